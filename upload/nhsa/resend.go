package nhsa

import "fmt"

// ResendProgress is the progress a delivered bill is queued again with
// when reconciliation finds that 医保 lacks its rows (the one-click resend
// of a finding): every row is built again and sent under a new msgid
// (state answered, no row done), under the stem its rows were first sent
// with (the legacy mark is kept), so the platform sees the same
// fixmedins_bchno and rows it still holds are answered as duplicates,
// which count as delivered. A msgid is never reused: the platform answers
// a repeated msgid with its first answer, which would not send anything.
func ResendProgress(delivered string) (string, error) {
	prev, err := parseProgress(delivered)
	if err != nil {
		return "", fmt.Errorf("resending: %w", err)
	}
	p := &progress{V: progressVersion, State: stateAnswered, Legacy: LegacyProgress(delivered)}
	if prev != nil {
		p.Infno, p.Total = prev.Infno, prev.Total
	}
	return p.encode(), nil
}
