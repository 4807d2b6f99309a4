package metrics

import (
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
)

// ReasonLabel bounds the reason label of pda_scans_total to the reasons
// the agent gives (parser, ledger, commands, sources); anything else is
// "other", so a new or garbled reason can never grow the series without
// end.
func ReasonLabel(reason string) string {
	switch reason {
	case "":
		return ""
	// The trace-code parser.
	case string(tracecode.ReasonEmpty), string(tracecode.ReasonTooLong), string(tracecode.ReasonControlChar),
		string(tracecode.ReasonBadEncoding), string(tracecode.ReasonNonASCII), string(tracecode.ReasonProductBarcode),
		string(tracecode.ReasonBadLength), string(tracecode.ReasonNotMSFX), string(tracecode.ReasonBadSyntax),
		string(tracecode.ReasonUnknownAI), string(tracecode.ReasonDuplicateAI), string(tracecode.ReasonBadAIValue),
		string(tracecode.ReasonBadGTINCheck), string(tracecode.ReasonBadDate), string(tracecode.ReasonMissingGTIN),
		string(tracecode.ReasonMissingSerial), string(tracecode.ReasonAmbiguousSeparator),
		string(tracecode.ReasonKindNotAllowed), string(tracecode.ReasonUnrecognised):
		return reason
	// The ledger and sessions.
	case queue.ReasonAlreadySold, queue.ReasonAlreadyReceived, queue.ReasonNotSold, queue.ReasonLeftStore,
		queue.ReasonOpenedPack, queue.ReasonNotSplittable, queue.ReasonNotEnoughUnits, queue.ReasonNoSession,
		queue.ReasonNotSoldHere, queue.ReasonNotOnOriginal, queue.ReasonNotOnSale, queue.ReasonLineComplete:
		return reason
	// The agent: duplicates, commands, receiving checks, scans not recorded.
	case "duplicate", "double_read", "bad_command", "session_busy", "empty_bill", "parent_child", "bad_units",
		"codes_missing", "queue_full", "stopping", "internal":
		return reason
	// Sources that refuse input themselves.
	case "decode_error":
		return reason
	}
	return "other"
}
