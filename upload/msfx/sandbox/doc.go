// Package sandbox is a strict stand-in for the 码上放心 (Alibaba Health
// drug-trace) TOP gateway, serving the retail-pharmacy (lsyd) methods listed
// by Methods. The real gateway is out of reach from development machines,
// so tests, the demo and `pda-agent sandbox` talk to this one; it behaves
// like an unforgiving platform rather than a stub. It verifies requests
// with its own code, keeps a ledger that proves nothing was lost or
// applied twice, and injects the faults the real gateway has (see Fault).
//
// # Written from the public declarations
//
// The sandbox shares no code with the client (package upload/msfx and its
// wire package; a test fails if the sandbox or its tests depend on them),
// so that a field the client names wrongly is not named the same wrong
// way here. Its parameter names, required sets and answer types are
// written by hand from:
//
//   - golgys0621/topsdk, the generated Go SDK new_go_sdk_20251217:
//     ability2939/request/<Method>Request.go (parameters; `required:"true"`
//     is what the sandbox requires), ability2939/response/<Method>Response.go
//     (layout) and ability2939/domain/*.go (answer fields and their JSON
//     types); topclient.go and util/util.go (system parameters, signature);
//   - bububa/opentaobao: metadata/assets/json/drugtrace/<method>.json (the
//     per-method tables) and the xml:"list>item" tags of model/drugtrace/*.go
//     (the XML item names of lists);
//   - /work/shared/reference/msfx.md (protocol notes and their sources).
//
// Each answer type in answers.go names the SDK type it follows. Fields the
// SDK declares without documenting their values (flags, *_format dates,
// ass_* ids, lic_type_code …) carry plausible values, marked inferred there.
//
// # Gateway checks
//
// Every call is a POST (any path) of an urlencoded form; parameters come
// from the body and the query string (where the official PHP SDK puts the
// system parameters). Checks run in this order; the first failure answers
// {"error_response": {code, msg, sub_code, sub_msg, request_id}} with HTTP
// 200 as TOP does (exceptions noted), and counts under its reason in
// Stats.Rejected:
//
//	http_method          9  Http Action Not Allowed    not POST
//	body_too_large      41  isv.invalid-parameter      body over MaxBody (HTTP 413)
//	unreadable_body     41  isv.invalid-parameter      body could not be read (HTTP 400)
//	content_type        41  isv.invalid-parameter      not application/x-www-form-urlencoded
//	invalid_encoding    47  Invalid encoding           charset not utf-8, or invalid UTF-8
//	malformed_form      41  isv.invalid-parameter      bad %-escape or ';' in the form
//	duplicate_param     41  isv.invalid-parameter      a name twice (or in query and body)
//	empty_param         41  isv.invalid-parameter      empty name or value (SDKs sign them differently)
//	(an injected fault is taken here)
//	banned               7  App Call Limited           app_key banned by FaultBan (checked or not)
//	missing_method      21  Missing method
//	invalid_method      22  Invalid method             not one of Methods()
//	missing_app_key     28  Missing app key
//	invalid_app_key     29  Invalid app key            not in Options.Apps
//	missing_timestamp   30  Missing timestamp
//	invalid_timestamp   31  Invalid timestamp          not "2006-01-02 15:04:05"
//	missing_version     32  Missing version
//	invalid_version     33  Invalid version            v not a number
//	unsupported_version 34  Unsupported version        v not 2.0
//	invalid_format      23  Invalid format             format absent (= xml) or not json
//	missing_sign_method 25  Invalid signature          sign_method absent
//	invalid_sign_method 25  Invalid signature          not md5, hmac or hmac-sha256
//	missing_signature   24  Missing signature
//	invalid_signature   25  Invalid signature          wrong, or lowercase hex
//	stale_timestamp     31  Invalid timestamp          outside ±Window of Now, read as UTC+8
//	invalid_simplify    41  isv.invalid-parameter      simplify not true/false
//	missing_param       40  isv.missing-parameter      a required business parameter absent
//	unknown_param       41  isv.invalid-parameter      a parameter the method does not have
//	invalid_param       41  isv.invalid-parameter      a malformed business parameter
//	too_many_codes      41  isv.invalid-parameter      trace_codes over the limit, codes over 1000
//
// The signature is checked before the timestamp window so that a caller
// without the secret learns nothing about the gateway clock. Unknown
// business parameters are refused although the real gateway ignores them:
// a misspelt optional parameter would otherwise be lost silently. session
// is accepted and ignored (the lsyd methods need none).
//
// # Business answers
//
// Every answer carries every field the SDK declares for it, with the
// declared JSON type (an SDK int64 is a JSON number, e.g. listupout
// bill_out_id; an SDK *string is a string, e.g. billstatus result_type,
// relation is_smallest), plus request_id. Its shape follows the request
// and the Options:
//
//   - List shape. With simplify=true the answer is the response object
//     itself (no wrapper) and every list a plain array, as the public Go
//     SDKs (which send simplify=true) declare. Without it the answer is
//     {"<method with _>_response": {...}} and every list is the classic TOP
//     JSON form, an object keyed by the XML item name:
//     result_list: {bill_up_out_detail_do: [...]}, drug_infos_dto_list:
//     {drug_infos_dto: [...]}, code_info_list_dto_list:
//     {code_info_list_dto: [...]}, models: {code_full_info_dto: [...]},
//     produce_info_list: {produce_info_dto: [...]}, code_list: {string:
//     [...]} … (ListItemName; names from bububa/opentaobao's xml tags, the
//     items of listbillprocesspartsuccess model.result and getentinfolist
//     model inferred from their type names). error_response keeps its
//     wrapper either way.
//   - Layout (Options.Layout, Options.Layouts per method). The payload
//     fields (model/models/model_list, msg_code, msg_info, response_success
//     or success …) sit in a "result" object (LayoutResult) or at the top
//     level of the response (LayoutTopLevel). LayoutDeclared, the default,
//     is the SDK's per method (DeclaredLayout): top level for
//     uploadinoutbill, uploadretail and listbillprocesspartsuccess (their
//     …Response types carry the fields), "result" for the others
//     (…Response.Result).
//   - query.upbillcode and listupout.detail say "success" instead of
//     "response_success", as their SDK result types do.
//
// Requests must carry the parameters the SDK request types mark required:
// page and page_size for listupout, query.billstatus and
// listbillprocesspartsuccess (whose bill_code is optional: without it, the
// failed codes of every processed bill); from_ref_user_id and
// to_ref_user_id for listupout.detail; des_ref_ent_id for query.relation
// (the caller's own); ref_ent_id for getentinfolist (the caller's own;
// query_param optional, without it the caller itself is answered). The SDK
// marks query.upbillcode's code and ref_ent_id optional; the sandbox
// requires them.
//
// Business refusals count in Stats.Rejected under:
//
//	auth             FAIL_BIZ_AUTH_ERROR  ref_user_id / ref_ent_id is not the app's enterprise
//	direction        FAIL  企业与单据方向不符  inbound to_user_id / outbound from_user_id is not the own ent_id
//	unknown_partner  FAIL  往来企业不存在      the other side is not a known ent_id
//	strict_codes     FAIL  with operation_info_map, ignore_part_success_flag=1 and a code failed
//	repeat_flow      FAIL_BIZ_BILL_DUPLICATE_UPLOAD_BILLCODE_REPEAT_CODE  码重复流向拦截
//	sold             FAIL  存在已出售的码      a 321/322 with a code already sold
//	busy             FAIL  系统繁忙            FaultBusy
//
// Uploads, in order: parameter formats (bill_type known for the method:
// in/out types for uploadinoutbill, 321/322/116 for uploadretail;
// client_type "2" for in/out; ≤ Options.Max*Codes codes; no empty entry),
// FaultBusy, ownership, then under one lock: duplicate bill_code,
// direction, per-code checks, the strict flag, repeat flow (in/out only),
// sold codes (321/322 only), acceptance.
//
//   - Idempotency: bill_code is unique per enterprise. A second upload with
//     the same bill_code, whatever its content, answers msg_code FAIL,
//     msg_info "该单据号已存在（上传时间：yyyy-MM-dd HH:mm:ss）"; the ledger's
//     Applied stays 1 and Duplicates grows. Refused uploads do not take the
//     bill_code.
//   - Per-code checks (partial success): a code that is not 20 digits
//     starting with 8 nor an accepted GS1 string fails with key "2"; an
//     unregistered product prefix or GTIN, or a case code without the
//     canonical check digits, "1"; a cancelled code "4"; a code listed more
//     than once "3" (every occurrence fails, the code is listed once); a
//     code together with its case "6" (both fail; listed as
//     "child(下级);parent(上级)"). Failed codes are skipped and reported in
//     operation_info_map.code_check_error_info; with
//     ignore_part_success_flag=1 the whole bill is refused instead.
//   - Repeat flow: an in/out bill refuses codes whose last movement at this
//     enterprise went the same way (in twice without an out, or out twice);
//     this catches a retry that changed its bill_code. Retail movements
//     count as out (321/322) and in (116).
//   - Sold codes: a 321/322 is refused as a whole ("存在已出售的码", as the
//     platform was seen to do, not per code) when a code, its case, or one
//     of a case's boxes is held by an accepted 321/322 not undone by a
//     later 116 of that code. A 116 of a code never sold is accepted.
//   - Code effects apply when the upload is accepted, not when processed.
//
// An accepted upload answers model = a 15-digit queue id and is result 1
// (上传成功). Each query.billstatus answer that lists the bill is a poll:
// the first still shows 1, later ones 0 (处理中) until more than
// ProcessAfter polls, then the result is final: 3 (处理成功) or 4
// (处理失败, every code failed) with process_info and sub_process_flag 51
// (全部成功) or 52 (部分成功: some code failed), the SDK's values; the flag
// is empty before. listbillprocesspartsuccess lists failed codes once the
// bill is final (an empty page before).
//
// Queries answer for the caller's own enterprise only (ref_ent_id, else
// FAIL_BIZ_AUTH_ERROR); "not found" is msg_code FAIL_BIZ_NO_PAT_INFO with
// the success flag false. What each answers:
//
//   - listupout pages rows of drug lines (model.result_list, total_num); a
//     row's status is "2" (已确认) once every code of its bill went through
//     an inbound of the receiver (a box through its case, a case through
//     all its boxes), else "1".
//   - listupout.detail lists the bill's drug lines with lot (produce_batch_no),
//     produce_date, valid_end_date and least_pkg_amount (smallest packs),
//     and their codes as shipped in code_info_list_dto_list: a box with
//     code_level "1" and pkg_amount "1", a case with code_level "2" and its
//     box count. ent_send_id / ent_recv_id carry the 32-hex ent_id
//     (inferred).
//   - query.upbilldetail lists the codes the platform took, grouped by
//     product in bill_chk_in_out_detail_list_d_t_o_list[].code_and_parent_list.
//   - drug.lsyd.searchbill lists the caller's own bills whose bill_time is
//     in the days asked (bill_type A, AI inbound or AO outbound; cur_page,
//     page_size), in upload order (reconcile.go). For reconciliation tests,
//     LoseBill, ChangeCode and AddForeignBill change the ledger behind the
//     uploader's back.
//   - query.codedetail gives code_status_type_d_t_o.code_status and, for a
//     known product, its lot and dates in
//     code_produce_info_d_t_o.produce_info_list[] (batch_no,
//     produce_date_str, expire_date, pkg_amount).
//   - query.relation answers only for codes that went through an inbound
//     ("只有做过入库的码"): the caller's, or the supplier's that shipped them
//     to the caller on an upstream bill (whose inbound is not said:
//     inferred), a box also through its case, as one CodeRelationDto
//     whose code_relation_list holds the case and its boxes (code_level 1 =
//     biggest, code_pack_level 1 = smallest), is_smallest "true"/"false",
//     and pkg_info_dto.code_list the smallest codes under the code asked.
//   - listbillprocesspartsuccess answers model = {result[], pages,
//     total_num, page_size, page} plus http_status_code.
//   - getentinfolist matches ent_name as a substring, the other fields
//     exactly; medical_code matches nothing; unique_code is the 统一社会信用代码.
//
// listupout's drug_ent_base_info_id filter is the product's prefix or
// GTIN. bill_time is checked for its format only.
//
// # The World
//
// A World holds enterprises (each app_key belongs to at most one), products
// and their package hierarchy, cancelled codes, and upstream bills. Its
// rules:
//
//   - Any 20-digit code whose 7-digit prefix is a registered box prefix is
//     an activated box (码上放心 check digits are not public, so any check
//     digits are accepted and tests can invent serials).
//   - A case code is CasePrefix + 9-digit serial s + the canonical check
//     digits (MakeCode); it holds CaseSize boxes MakeCode(Prefix,
//     900000000 + s*CaseSize + i). Box serials starting with 9 are thereby
//     reserved for boxes in cases; a box is in a case only with the
//     canonical check digits.
//   - A GS1 code is accepted (unless Options.RejectGS1) as "01"+GTIN-14
//     first, then AIs 17/11 (6 digits), 10 and 21 (≤20 characters, ended by
//     GS 0x1D unless last), each once, 21 required; its identity is
//     01+GTIN+21+serial. An unregistered GTIN is key "1".
//   - Status (codedetail): E not a code of a known product, C cancelled, O
//     sold, I went through any inbound, else A.
//   - A loose box may be recorded under another product
//     (World.ReportAsProduct): codedetail then names that product's drug
//     (name, approval_licence_no, drug_ent_base_info_id) whatever the
//     code's own prefix says, as the platform would for a code copied onto
//     a box of another drug.
//
// DefaultWorld (dated from DefaultReferenceDay; New with a nil World uses
// DefaultWorldAt(Now())) holds the store DefaultStoreRefEntID (app
// DefaultStoreAppKey), its chain warehouse DefaultWarehouseRefEntID (app
// DefaultWarehouseAppKey), the wholesaler DefaultSupplierRefEntID (no
// app), five products (amoxicillin with cases of 10, ibuprofen with cases
// of 20, licorice tablets, the 特药 tramadol 8912345, the imported GS1
// atorvastatin), the cancelled DefaultCancelledCode and four upstream
// bills, DefaultUpBill1–4; see their documentation.
package sandbox
