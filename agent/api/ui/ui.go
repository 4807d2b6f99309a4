// Package ui is the clerk page the local API serves at /: plain HTML, CSS
// and a small vanilla script, embedded so that it works offline with no
// build step and no files beside the binary.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.css app.js compliance.html compliance.css compliance.js
var files embed.FS

// FS returns the page's files: index.html, app.css and app.js.
func FS() fs.FS { return files }
