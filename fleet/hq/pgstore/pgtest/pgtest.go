// Package pgtest starts a throw-away PostgreSQL cluster for tests: initdb
// and pg_ctl from Debian's postgresql package (scripts/install-postgres.sh)
// in a temp dir, listening only on a Unix socket there, removed when the
// test ends. Without PostgreSQL the test is skipped, or fails when CI=true
// (CI must not silently skip the database tests).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running throw-away cluster.
type Cluster struct {
	dir    string
	socket string
	dbs    atomic.Int64
}

// binDir finds the newest /usr/lib/postgresql/<ver>/bin with initdb, else
// the directory of an initdb on PATH.
func binDir() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi < vj
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// Available tells whether PostgreSQL's server binaries are installed
// (Start skips the test without them).
func Available() bool { return binDir() != "" }

// Start initialises and starts a cluster, stopped and removed at cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := binDir()
	if bin == "" {
		msg := "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH); run scripts/install-postgres.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the PostgreSQL tests must run)")
		}
		t.Skip(msg)
	}
	// Not t.TempDir: as root the server runs as the postgres user, which
	// must reach the directory.
	dir, err := os.MkdirTemp("", "pda-hq-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{dir: dir, socket: filepath.Join(dir, "sock")}
	data := filepath.Join(dir, "data")
	for _, d := range []string{data, c.socket} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// initdb refuses to run as root.
	var runAs []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{data, c.socket} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) {
		t.Helper()
		argv := append(append(append([]string{}, runAs...), filepath.Join(bin, name)), args...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	t.Cleanup(func() {
		argv := append(append(append([]string{}, runAs...), filepath.Join(bin, "pg_ctl")), "-D", data, "-m", "immediate", "-w", "stop")
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
		os.RemoveAll(dir)
	})
	// fsync off: a test cluster need not survive a power cut, and the
	// tests kill pda-hq, not PostgreSQL.
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", c.socket)
	run("pg_ctl", "-D", data, "-l", filepath.Join(data, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	return c
}

// DSN is a postgres:// URL for database db on the cluster's socket.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&sslmode=disable", db, url.QueryEscape(c.socket))
}

// NewDB creates an empty database and returns its DSN.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return c.DSN(name)
}
