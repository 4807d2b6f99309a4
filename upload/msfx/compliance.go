package msfx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// The compliance queries of a retail store (wire/compliance.go names the
// SDK declarations they follow).

// maxKeyList bounds the key-variety file (a national list of a few
// thousand products is well under this).
const maxKeyList = 32 << 20

// BillCounts are bill counts by bill type.
type BillCounts map[int]int

// QueryBillCount counts the store's own bills uploaded between the days
// of begin and end (drug.lsyd.query.billcount). billType 0 asks for all.
func (c *Client) QueryBillCount(ctx context.Context, begin, end time.Time, billType int) (BillCounts, error) {
	return c.billCount(ctx, wire.MethodQueryBillCount, begin, end, billType)
}

// QueryUpOutBillCount counts the upstream outbound bills addressed to the
// store between the days of begin and end (drug.lsyd.query.upoutbillcount).
func (c *Client) QueryUpOutBillCount(ctx context.Context, begin, end time.Time, billType int) (BillCounts, error) {
	return c.billCount(ctx, wire.MethodQueryUpOutBillCount, begin, end, billType)
}

func (c *Client) billCount(ctx context.Context, method string, begin, end time.Time, billType int) (BillCounts, error) {
	p := map[string]string{
		wire.PRefEntID:  c.refEntID,
		wire.PBeginDate: begin.In(c.zone).Format(wire.DayLayout),
		wire.PEndDate:   end.In(c.zone).Format(wire.DayLayout),
		wire.PBillType:  itoa(billType),
	}
	var r wire.BillCountResult
	found, e := c.query(ctx, method, p, &r)
	if e != nil {
		return nil, e
	}
	out := BillCounts{}
	if found {
		for _, row := range r.ModelList {
			out[int(row.BillType)] += int(row.Count)
		}
	}
	return out, nil
}

// KeyFlagDrugURL asks for the download address of the official
// key-variety list (lsyd.getkeyflagdruginfo.downloadurl).
func (c *Client) KeyFlagDrugURL(ctx context.Context) (string, error) {
	var r wire.KeyFlagURLResult
	found, e := c.query(ctx, wire.MethodKeyFlagDrugURL, map[string]string{wire.PRefEntID: c.refEntID}, &r)
	if e != nil {
		return "", e
	}
	if !found || r.Model == nil || r.Model.URL == "" {
		return "", fmt.Errorf("%s: the answer gives no url", wire.MethodKeyFlagDrugURL)
	}
	return string(r.Model.URL), nil
}

// ServiceEndDate asks when the store's 码上放心 service ends
// (lsyd.service.getenddate; business 1 = 药 and service 11 = 基础版 per the
// SDK's comments, configurable because other editions exist).
func (c *Client) ServiceEndDate(ctx context.Context, business, service int) (string, error) {
	var r wire.ServiceEndDateResult
	found, e := c.query(ctx, wire.MethodServiceEndDate, map[string]string{wire.PRefEntID: c.refEntID,
		wire.PBusiness: strconv.Itoa(business), wire.PService: strconv.Itoa(service)}, &r)
	if e != nil {
		return "", e
	}
	if !found || r.EndDate == "" {
		return "", fmt.Errorf("%s: the answer gives no end_date", wire.MethodServiceEndDate)
	}
	return string(r.EndDate), nil
}

// UpOutBillLog lists the upstream bills changed between the days of
// begin and end (drug.kyt.wes.queryupoutbilllog). It first trades the
// WES license for a day's token (…wes.license.token.get). Whether a
// retail AppKey may call these is unconfirmed.
func (c *Client) UpOutBillLog(ctx context.Context, license string, begin, end time.Time) ([]wire.UpOutBillLog, error) {
	var tok wire.LicenseTokenResult
	found, e := c.query(ctx, wire.MethodLicenseTokenGet, map[string]string{wire.PRefEntID: c.refEntID, wire.PLicense: license}, &tok)
	if e != nil {
		return nil, e
	}
	if !found || tok.Model == nil || tok.Model.LicenseToken == "" {
		return nil, fmt.Errorf("%s: the answer gives no license_token", wire.MethodLicenseTokenGet)
	}
	var out []wire.UpOutBillLog
	for page := 1; page <= maxStatusPages; page++ {
		var r wire.UpOutBillLogResult
		found, e := c.query(ctx, wire.MethodQueryUpOutBillLog, map[string]string{
			wire.PRefEntID: c.refEntID, wire.PLicenseToken: string(tok.Model.LicenseToken),
			wire.PBeginOperDate: begin.In(c.zone).Format(wire.DayLayout), wire.PEndOperDate: end.In(c.zone).Format(wire.DayLayout),
			wire.PPage: strconv.Itoa(page), wire.PPageSize: strconv.Itoa(partPageSize)}, &r)
		if e != nil {
			return nil, e
		}
		if !found || r.Model == nil {
			break
		}
		out = append(out, r.Model.ResultList...)
		if len(r.Model.ResultList) < partPageSize || len(out) >= int(r.Model.TotalNum) {
			break
		}
	}
	return out, nil
}

// KeyVarietyList is the official key-variety list as downloaded.
type KeyVarietyList struct {
	// Version is the first 12 hex digits of the file's SHA-256: the
	// platform declares no version field.
	Version string
	// Products are the product keys (7-digit 药品标识码 or GTIN-14) → name
	// ("" when the file gives none).
	Products map[string]string
}

// FetchKeyVarietyList downloads the list at url and parses it
// (ParseKeyVarietyList). The address comes from KeyFlagDrugURL.
func (c *Client) FetchKeyVarietyList(ctx context.Context, url string, column string) (*KeyVarietyList, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("key-variety list: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("key-variety list: %s", c.redact(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key-variety list: HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyList+1))
	if err != nil {
		return nil, fmt.Errorf("key-variety list: reading: %w", err)
	}
	if len(data) > maxKeyList {
		return nil, fmt.Errorf("key-variety list: larger than %d bytes", maxKeyList)
	}
	return ParseKeyVarietyList(data, column)
}

var (
	productKeyRE = regexp.MustCompile(`^(\d{7}|\d{14})$`)
	// traceCodeRE is a whole 20-digit trace code: its 7-digit prefix is
	// the product.
	traceCodeRE = regexp.MustCompile(`^8\d{19}$`)
)

// ParseKeyVarietyList reads the key-variety file. Its format is not
// published, so the reader is tolerant: UTF-8 text (a BOM is skipped),
// comma-, tab- or semicolon-separated, with or without a header. column
// names the header of the product-key column (e.g. 药品标识码); when it is
// empty or absent, every cell that is a 7-digit 药品标识码, a GTIN-14 or a
// 20-digit trace code (its prefix) counts, and the first cell that is not
// a number is taken as the name. A zip/xlsx file is refused plainly.
func ParseKeyVarietyList(data []byte, column string) (*KeyVarietyList, error) {
	sum := sha256.Sum256(data)
	l := &KeyVarietyList{Version: hex.EncodeToString(sum[:])[:12], Products: map[string]string{}}
	if bytes.HasPrefix(data, []byte("PK")) {
		return nil, fmt.Errorf("key-variety list: a zip/xlsx file, which this reader does not read; set msfx.compliance.key_list_column and ask for CSV")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("key-variety list: not UTF-8 text")
	}
	sep := ','
	if first, _, _ := bytes.Cut(data, []byte("\n")); bytes.Count(first, []byte("\t")) > bytes.Count(first, []byte(",")) {
		sep = '\t'
	} else if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		sep = ';'
	}
	r := csv.NewReader(bufio.NewReader(bytes.NewReader(data)))
	r.Comma, r.FieldsPerRecord, r.LazyQuotes, r.TrimLeadingSpace = sep, -1, true, true
	col := -1
	for n := 0; ; n++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("key-variety list: line %d: %w", n+1, err)
		}
		if n == 0 && column != "" {
			for i, h := range rec {
				if strings.TrimSpace(h) == column {
					col = i
				}
			}
			if col >= 0 {
				continue
			}
		}
		name := ""
		var keys []string
		for i, cell := range rec {
			cell = strings.TrimSpace(cell)
			switch {
			case col >= 0 && i != col:
				if name == "" && cell != "" && !isDigits(cell) {
					name = cell
				}
				continue
			case productKeyRE.MatchString(cell):
				keys = append(keys, cell)
			case traceCodeRE.MatchString(cell):
				keys = append(keys, cell[:7])
			case name == "" && cell != "" && !isDigits(cell):
				name = cell
			}
		}
		for _, k := range keys {
			l.Products[k] = name
		}
	}
	if len(l.Products) == 0 {
		return nil, fmt.Errorf("key-variety list: no product key (7-digit 药品标识码 or GTIN-14) in the file")
	}
	return l, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Total is the sum over bill types.
func (b BillCounts) Total() int {
	n := 0
	for _, c := range b {
		n += c
	}
	return n
}

// AttrStockReason is the bill attribute holding why stock changed (the
// agent's stock bills; the same name upload/nhsa sends as the 3502 memo).
const AttrStockReason = "stock.reason"

// billDestroyed is 205 销毁出库.
const billDestroyed = 205

// maxCancelReason bounds cancel_reason_des (no published length; kept
// short like the other free-text fields).
const maxCancelReason = 100

// destructionParams fills cancel_reason_des of a 205 销毁出库 from the
// bill's stock.reason ([SDK] ability2939/request/
// AlibabaAlihealthDrugtraceTopLsydUploadinoutbillRequest.go declares
// cancel_reason_code/_des, executer_*, superviser_*, all optional;
// msfx.md §4.3: destruction only). cancel_reason_code has no public code
// table, so it is not sent.
func destructionParams(p map[string]string, b queue.Bill) {
	if b.Type != billDestroyed {
		return
	}
	r := []rune(strings.TrimSpace(b.Attrs[AttrStockReason]))
	if len(r) == 0 {
		return
	}
	p[wire.PCancelReasonDes] = string(r[:min(len(r), maxCancelReason)])
}
