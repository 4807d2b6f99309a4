package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The compliance methods of a retail store: bill counts, the official
// key-variety list (its download address, and the file on the sandbox's
// own loopback file server), the service end date, and the WES log of
// upstream bills changed after the fact. Request and answer fields follow
// github.com/golgys0621/topsdk (commit 3fc1bd4a): ability2939/request and
// domain …LsydQueryBillcount*, …LsydQueryUpoutbillcount*,
// …LsydGetkeyflagdruginfoDownloadurl*, …LsydServiceGetenddate*, and
// defaultability …KytWesLicenseTokenGet*, …KytWesQueryupoutbilllog*.

const (
	methodQueryBillCount      = "alibaba.alihealth.drug.lsyd.query.billcount"
	methodQueryUpOutBillCount = "alibaba.alihealth.drug.lsyd.query.upoutbillcount"
	methodKeyFlagDrugURL      = "alibaba.alihealth.drugtrace.top.lsyd.getkeyflagdruginfo.downloadurl"
	methodServiceEndDate      = "alibaba.alihealth.drugtrace.top.lsyd.service.getenddate"
	methodLicenseTokenGet     = "alibaba.alihealth.drug.code.kyt.wes.license.token.get"
	methodQueryUpOutBillLog   = "alibaba.alihealth.drug.kyt.wes.queryupoutbilllog"
)

// complianceMethods are the methods of this file, in a fixed order.
func complianceMethods() []string {
	return []string{methodQueryBillCount, methodQueryUpOutBillCount, methodKeyFlagDrugURL, methodServiceEndDate,
		methodLicenseTokenGet, methodQueryUpOutBillLog}
}

// complianceSpec is lookupMethod for the compliance methods: required
// parameters are the SDK's `required:"true"` tags.
func complianceSpec(m string) (methodSpec, bool) {
	switch m {
	case methodQueryBillCount:
		return methodSpec{required: []string{pRefEntID, pBeginDate, pEndDate}, optional: []string{pBillType},
			run: (*Server).queryBillCount}, true
	case methodQueryUpOutBillCount:
		return methodSpec{required: []string{pRefEntID, pBeginDate, pEndDate}, optional: []string{pBillType, "ass_ref_ent_id"},
			run: (*Server).queryUpOutBillCount}, true
	case methodKeyFlagDrugURL:
		return methodSpec{required: []string{pRefEntID}, run: (*Server).keyFlagDrugURL}, true
	case methodServiceEndDate:
		return methodSpec{required: []string{pRefEntID, "business", "service"}, run: (*Server).serviceEndDate}, true
	case methodLicenseTokenGet:
		return methodSpec{required: []string{pRefEntID, "license"}, run: (*Server).licenseTokenGet}, true
	case methodQueryUpOutBillLog:
		return methodSpec{required: []string{pRefEntID, "license_token", "begin_oper_date", "end_oper_date", pPageSize, pPage},
			run: (*Server).queryUpOutBillLog}, true
	}
	return methodSpec{}, false
}

// KeyVariety is one product of the official key-variety list.
type KeyVariety struct {
	// Key is the 7-digit 药品标识码 (or a GTIN-14).
	Key, Name string
}

// UpstreamChange is one entry of the change log: an upstream bill the
// shipper changed after sending it.
type UpstreamChange struct {
	FromRefEntID, BillCode string
	At                     time.Time
}

// complianceState is the platform side of the compliance methods.
type complianceState struct {
	mu         sync.Mutex
	keyList    []byte            // the list file as served
	filesBase  string            // "http://host:port" of the file server, "" until ServeFiles
	serviceEnd map[string]string // ref_ent_id → end date
	licenses   map[string]string // WES license → ref_ent_id
	tokens     map[string]string // license_token → ref_ent_id
	changes    []UpstreamChange
}

// SetKeyVarieties publishes the official key-variety list. The file is
// served as UTF-8 CSV with the header 药品标识码,药品名称 (the real file's
// format is not public; the client's reader is tolerant).
func (s *Server) SetKeyVarieties(list []KeyVariety) {
	var b strings.Builder
	b.WriteString("药品标识码,药品名称\n")
	for _, k := range list {
		fmt.Fprintf(&b, "%s,%s\n", k.Key, strings.ReplaceAll(k.Name, ",", " "))
	}
	s.comp.mu.Lock()
	s.comp.keyList = []byte(b.String())
	s.comp.mu.Unlock()
}

// SetServiceEnd sets when an enterprise's service ends ("yyyy-MM-dd
// HH:mm:ss", the TOP date form; inferred, the SDK declares a string).
func (s *Server) SetServiceEnd(refEntID, end string) {
	s.comp.mu.Lock()
	defer s.comp.mu.Unlock()
	if s.comp.serviceEnd == nil {
		s.comp.serviceEnd = map[string]string{}
	}
	s.comp.serviceEnd[refEntID] = end
}

// SetWESLicense issues a WES license to an enterprise.
func (s *Server) SetWESLicense(refEntID, license string) {
	s.comp.mu.Lock()
	defer s.comp.mu.Unlock()
	if s.comp.licenses == nil {
		s.comp.licenses = map[string]string{}
	}
	s.comp.licenses[license] = refEntID
}

// ChangeUpstreamBill lets a shipper change a bill it sent: its codes are
// replaced and the change is logged at at.
func (s *Server) ChangeUpstreamBill(fromRef, billCode string, codes []string, at time.Time) error {
	w := s.world
	w.mu.Lock()
	var found bool
	for _, b := range w.upstream {
		if b.FromRefEntID == fromRef && b.BillCode == billCode {
			b.Codes, found = slices.Clone(codes), true
		}
	}
	w.mu.Unlock()
	if !found {
		return fmt.Errorf("sandbox: no upstream bill %s from %s", billCode, fromRef)
	}
	s.comp.mu.Lock()
	s.comp.changes = append(s.comp.changes, UpstreamChange{FromRefEntID: fromRef, BillCode: billCode, At: at})
	s.comp.mu.Unlock()
	return nil
}

// FileServer serves the key-variety list on its own loopback listener.
type FileServer struct {
	srv *http.Server
	ln  net.Listener
}

// ServeFiles starts the file server on addr (e.g. "127.0.0.1:0"); the
// download addresses answered point at it from then on.
func (s *Server) ServeFiles(addr string) (*FileServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox files: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /keyflag/{file}", func(w http.ResponseWriter, r *http.Request) {
		s.comp.mu.Lock()
		data := s.comp.keyList
		s.comp.mu.Unlock()
		if data == nil || r.PathValue("file") != keyListVersion(data)+".csv" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		_, _ = w.Write(data)
	})
	fs := &FileServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() { _ = fs.srv.Serve(ln) }()
	s.comp.mu.Lock()
	s.comp.filesBase = "http://" + ln.Addr().String()
	s.comp.mu.Unlock()
	return fs, nil
}

// Close stops the file server.
func (f *FileServer) Close() error { return f.srv.Close() }

func keyListVersion(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// billTypeCountDTO follows …LsydQueryBillcountBillTypeCountDTO.go and
// …LsydQueryUpoutbillcountBillTypeCountDTO.go (bill_type is a String).
type billTypeCountDTO struct {
	BillType     string `json:"bill_type"`
	BillTypeName string `json:"bill_type_name"`
	Count        int64  `json:"count"`
}

// countRows groups bill types into model_list rows, by bill type.
func countRows(types []int) []billTypeCountDTO {
	n := map[int]int64{}
	for _, t := range types {
		n[t]++
	}
	rows := []billTypeCountDTO{}
	for _, t := range slices.Sorted(maps.Keys(n)) {
		rows = append(rows, billTypeCountDTO{BillType: strconv.Itoa(t), BillTypeName: billTypeName(t), Count: n[t]})
	}
	return rows
}

// countStart reads the parameters the two count methods share.
func (s *Server) countStart(c *call) (*Enterprise, time.Time, time.Time, int, *reply) {
	if e := intParam(c.params, pBillType); e != nil {
		return nil, time.Time{}, time.Time{}, 0, &reply{err: e}
	}
	from, to, e := dateRange(c.params)
	if e != nil {
		return nil, from, to, 0, &reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return nil, from, to, 0, r
	}
	bt, _ := strconv.Atoi(c.params[pBillType])
	return own, from, to, bt, nil
}

// queryBillCount counts the caller's own bills by upload day ("单据上传
// 开始日期"), answered with "success" as the SDK declares.
func (s *Server) queryBillCount(c *call) reply {
	own, from, to, bt, r := s.countStart(c)
	if r != nil {
		return withSuccessKey(*r)
	}
	var types []int
	s.mu.Lock()
	if st := s.ents[own.RefEntID]; st != nil {
		for _, b := range st.order {
			if (bt == 0 || b.BillType == bt) && !b.UploadedAt.Before(from) && !b.UploadedAt.After(to) {
				types = append(types, b.BillType)
			}
		}
	}
	s.mu.Unlock()
	return withSuccessKey(queryOK("model_list", countRows(types)))
}

// queryUpOutBillCount counts the upstream outbound bills addressed to the
// caller by bill time (inferred: the platform's upload day of a shipper's
// bill is not modelled).
func (s *Server) queryUpOutBillCount(c *call) reply {
	own, from, to, bt, r := s.countStart(c)
	if r != nil {
		return withSuccessKey(*r)
	}
	var types []int
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		if (bt == 0 || b.BillType == bt) && !b.BillTime.Before(from) && !b.BillTime.After(to) {
			types = append(types, b.BillType)
		}
	}
	return withSuccessKey(queryOK("model_list", countRows(types)))
}

// keyFlagDrugURL answers the file server's address of the current list.
func (s *Server) keyFlagDrugURL(c *call) reply {
	if _, r := s.queryStart(c); r != nil {
		return withSuccessKey(*r)
	}
	s.comp.mu.Lock()
	data, base := s.comp.keyList, s.comp.filesBase
	s.comp.mu.Unlock()
	if data == nil || base == "" {
		return withSuccessKey(notFound("信息不存在：重点追溯品种明细尚未生成"))
	}
	return withSuccessKey(queryOK("model", fields{"url": base + "/keyflag/" + keyListVersion(data) + ".csv"}))
}

// serviceEndDate answers end_date for business 1 (药) and service 11
// (基础版), the only values the SDK's comments name.
func (s *Server) serviceEndDate(c *call) reply {
	for _, p := range []string{"business", "service"} {
		if e := intParam(c.params, p); e != nil {
			return reply{err: e}
		}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return withSuccessKey(*r)
	}
	if c.params["business"] != "1" || c.params["service"] != "11" {
		return withSuccessKey(notFound("信息不存在：本企业未开通该服务（business=" + c.params["business"] + ", service=" + c.params["service"] + "）"))
	}
	s.comp.mu.Lock()
	end, ok := s.comp.serviceEnd[own.RefEntID]
	s.comp.mu.Unlock()
	if !ok {
		return withSuccessKey(notFound("信息不存在：本企业无服务记录"))
	}
	return withSuccessKey(queryOK("end_date", end))
}

// licenseTokenGet trades a WES license for a token.
func (s *Server) licenseTokenGet(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	lic := c.params["license"]
	s.comp.mu.Lock()
	defer s.comp.mu.Unlock()
	if s.comp.licenses[lic] != own.RefEntID {
		return queryFail(reasonAuth, msgAuthError, "license 无效或不属于本企业")
	}
	sum := sha256.Sum256([]byte(own.RefEntID + "/" + lic))
	tok := hex.EncodeToString(sum[:16])
	if s.comp.tokens == nil {
		s.comp.tokens = map[string]string{}
	}
	s.comp.tokens[tok] = own.RefEntID
	now := s.now()
	return queryOK("model", fields{"appkey": c.appKey, "ref_ent_id": own.RefEntID, "license_token": tok,
		"create_time": fmtTime(now), "expire_time": fmtTime(now.Add(24 * time.Hour))})
}

// billUpOutLogDTO follows …KytWesQueryupoutbilllogBillUpOutLogDTO.go.
type billUpOutLogDTO struct {
	RefEntID     string `json:"ref_ent_id"`
	BillID       int64  `json:"bill_id"`
	BillType     int64  `json:"bill_type"`
	BillTypeDesc string `json:"bill_type_desc"`
	BillCode     string `json:"bill_code"`
	FromRefEntID string `json:"from_ref_ent_id"`
	ToRefEntID   string `json:"to_ref_ent_id"`
	OperDate     string `json:"oper_date"`
}

// queryUpOutBillLog lists the changes of bills addressed to the caller
// whose change day lies in begin_oper_date…end_oper_date (yyyy-MM-dd).
func (s *Server) queryUpOutBillLog(c *call) reply {
	page, size, e := paging(c.params)
	if e != nil {
		return reply{err: e}
	}
	var from, to time.Time
	for i, p := range []string{"begin_oper_date", "end_oper_date"} {
		t, err := time.ParseInLocation(dayLayout, c.params[p], chinaTime)
		if err != nil {
			return reply{err: invalidParam(reasonInvalidParam, p, fmt.Sprintf("%s %q must be %q", p, c.params[p], dayLayout))}
		}
		if i == 0 {
			from = t
		} else {
			to = t.AddDate(0, 0, 1)
		}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	s.comp.mu.Lock()
	tokOwner := s.comp.tokens[c.params["license_token"]]
	changes := slices.Clone(s.comp.changes)
	s.comp.mu.Unlock()
	if tokOwner != own.RefEntID {
		return queryFail(reasonAuth, msgAuthError, "license_token 无效或已过期")
	}
	byCode := map[string]*UpstreamBill{}
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		byCode[b.FromRefEntID+"/"+b.BillCode] = b
	}
	var rows []billUpOutLogDTO
	for _, ch := range changes {
		b := byCode[ch.FromRefEntID+"/"+ch.BillCode]
		if b == nil || ch.At.Before(from) || !ch.At.Before(to) {
			continue
		}
		rows = append(rows, billUpOutLogDTO{RefEntID: own.RefEntID, BillID: b.BillOutID, BillType: int64(b.BillType),
			BillTypeDesc: billTypeName(b.BillType), BillCode: b.BillCode, FromRefEntID: b.FromRefEntID,
			ToRefEntID: b.ToRefEntID, OperDate: fmtTime(ch.At)})
	}
	return queryOK("model", fields{"result_list": pageRows(rows, page, size), "total_num": len(rows)})
}
