// Package sandbox is a strict stand-in for a provincial 医保 (NHSA) FSI
// gateway serving the 进销存 interfaces 3501-3507 and the 3513 query. The real gateways are
// out of reach from development machines, so tests, the demo and
// `pda-agent sandbox` talk to this one. It behaves like an unforgiving
// platform rather than a stub: it checks the gateway headers, the SM2/SM4
// envelope, every field of the FSI request and its input, and the
// business rules (a trace code sells once); it keeps a ledger (Rows) that
// shows whether anything was lost or applied twice; it answers in every
// shape the public clients read (Answer) and injects the faults real
// gateways have (Fault).
//
// # Independence from the client
//
// The sandbox's field tables and message types (contract.go) are written
// by hand from the published 定点医药机构接口规范 field tables and public
// clients, never from the agent's client: it imports neither
// upload/nhsa nor upload/nhsa/fsi, nor anything that does, and
// import_test.go fails if it (or its tests) ever does. Its tests speak raw
// HTTP with their own envelope code and their own copy of the tables
// (wire_test.go). Sources, cited beside each table:
//
//   - FSI envelope: binzhe12123/Medical SZSI_Smart/Model/SYB/SYBCommon.cs;
//     idoku-test/HN-YBJ-SDK YN-YBJ-SDK.Console/Program.cs (nhsa.md §2).
//   - 3503 purcinfo: fengzaiqishi11/hsa-his
//     hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodBuy.java.
//   - 3504: the same folder, InsureGoodBuyBack.java (purc_invo_no Y).
//   - 3505 selinfo: the same folder, InsureGoodSell.java (rtal_docno Y);
//     drugtracinfo of newer clients (nhsa.md §3.3).
//   - 3506: https://d.pingjiangxian.com/html/3506.html and
//     InsureGoodSellBack.java.
//   - 3507 data: InsureGoodInfoDelete.java.
//   - output.result {retRslt, msgRslt}: the 3505A answer (表209) of a
//     public Java HIS client (nhsa.md §3.5).
//   - output.invinfoErrDetail[]: a public C# client's Output_3502A
//     (namespace NeiMengGuYiBaoApp.Models.Output.YiBao; its repository is
//     not named by the index). Its use for 3503-3506 is unconfirmed.
//   - 3501/3502 invinfo: InsureInventoryCheck.java and
//     InsureInventoryStockUpdate.java (the same folder), with
//     newtouch-cloud/openhis
//     WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3501.cs and
//     Input_3502.cs (drugtracinfo). inv_chg_type's code set is not public:
//     Options.ChangeTypes restricts it when given.
//   - 3513 销售追溯信息查询: openhis Input_3513.cs and
//     Models/Output/YiBao/Output_3513.cs (single source), answered from the
//     ledger (trace.go).
//   - 3510 采购查询, 3511 销售查询, 3508 (3501 rows) and 3509 (3502 rows):
//     openhis Input_/Output_3508.cs … 3511.cs (single source), answered
//     from the ledger (rowquery.go).
//
// Where provinces differ or the platform's behaviour is unconfirmed, the
// sandbox takes the strict reading by default and offers a switch.
//
// # Layers and answers
//
// Every call is a POST on any path. Checks run in this order, and the
// first failure answers:
//
//   - HTTP and gateway refusals: HTTP status ≠ 200 and the body
//     {"code": <status>, "message": …}.
//   - Envelope refusals (sm2sm4 mode): HTTP 200, {"code": CodeEnv…,
//     "message": …}, unencrypted and unsigned.
//   - FSI refusals: HTTP 200 and an FSI answer with infcode -1 and the
//     reason in err_msg (≤ 200 characters), encrypted and signed like any
//     answer in sm2sm4 mode. In the AnswerRetRslt and AnswerPerRow
//     shapes, refusals of rows (their fields or the business rules) are
//     infcode 0 with retRslt "0" instead (see Answers).
//
// Each refusal is counted in Stats.Rejected under its reason:
//
//	misconfigured        500  Options.Validate failed (every request)
//	method_not_allowed   405  not POST
//	body_too_large       413  body over MaxBody
//	unreadable_body      400  the body could not be read
//	(an injected fault is taken here)
//	missing_header       401  缺少服务网关的请求头: <names>
//	unknown_user         401  非法用户 (x-tif-paasid / _api_access_key unknown)
//	unknown_service      401  非法用户: 未授权的服务 (_api_name / _api_version not configured ones)
//	bad_timestamp        401  签名时间戳格式错误 (x-tif: unix seconds; _api_: 13-digit ms)
//	bad_signature        401  签名不一致
//	stale_timestamp      401  签名时间戳超时 (outside ±Window)
//	replayed_nonce       401  请求重放 (x-tif-nonce seen within two windows)
//	content_type         415  not application/json or text/plain, or charset not utf-8
//	envelope_invalid     1001 not a JSON object of string fields appId, encType, signType,
//	                          timestamp, version, encData, signData; or plaintext data sent;
//	                          or encData not a JSON object once decrypted
//	envelope_unknown_app 1002 appId not a configured channel
//	envelope_enc_type    1003 encType not SM4 (exactly)
//	envelope_sign_type   1004 signType not SM2 (exactly)
//	envelope_version     1005 version not Options.EnvelopeVersion
//	envelope_timestamp   1006 timestamp not 13-digit milliseconds
//	envelope_decrypt     1007 encData not hex, not whole blocks, bad PKCS#7 padding, not UTF-8
//	envelope_signature   1008 signData does not verify
//	envelope_stale       1009 timestamp outside ±Window
//	invalid_json         -1   the FSI request is not a UTF-8 JSON object
//	wrong_type           -1   a contract field of the wrong JSON type (null counts as absent)
//	missing_field        -1   a required header field or input field absent or empty
//	too_long             -1   a field over its length (nhsa.md tables)
//	unknown_infno        -1   infno not 3501-3507 or 3513
//	unknown_institution  -1   fixmedins_code not configured
//	invalid_msgid        -1   msgid not fixmedins_code + yyyyMMddHHmmss + 4 digits
//	institution_name     -1   fixmedins_name differs from the configured name
//	invalid_admdvs       -1   mdtrtarea_admvs not the institution's 6 digits; insuplc_admdvs not 6 digits
//	recer_sys_code       -1   recer_sys_code differs from Options.RecerSysCode (when set)
//	invalid_opter_type   -1   opter_type not 1, 2 or 3
//	invalid_inf_time     -1   inf_time not yyyy-MM-dd HH:mm:ss
//	invalid_input        -1   input not a JSON object
//	input_too_long       -1   入参input长度[n]超过最大长度[MaxInput]: over Options.MaxInput
//	                          characters (40,000 by default)
//	stale_msgid          -1   the time in msgid outside ±Window (read as UTC+8)
//	stale_inf_time       -1   inf_time outside ±Window (UTC+8)
//	busy                 -1   系统繁忙 (FaultBusy; not stored under the msgid)
//	msgid_reuse          -1   a msgid seen before with another infno or input
//	missing_node         -1   input lacks the interface's node
//	invalid_row          -1   the node is not an object (or, for 3503-3506, a non-empty array of objects)
//	input_style          -1   节点…应为数组 / 应为JSON对象: the node's form is not the
//	                          province's Options.InputStyle
//	invalid_date         -1   manu_date / expy_end not yyyy-MM-dd
//	expiry_before_manufacture -1 expy_end before manu_date
//	invalid_time         -1   sel_retn_time / purc_retn_stoin_time not yyyy-MM-dd HH:mm:ss
//	future_time          -1   such a time later than Now + Window
//	invalid_number       -1   a count with more than 4 decimals, a price with more than 6 or
//	                          negative, an exponent
//	invalid_count        -1   a count ≤ 0, or not whole for trdn_flag 0
//	invalid_flag         -1   trdn_flag / prod_geay_flag / rx_circ_flag not 0 or 1;
//	                          inv_data_type not 1-4
//	invalid_code         -1   drug_trac_codg missing, empty, over 100 characters, with
//	                          surrounding space or a control character other than GS
//	duplicate_code       -1   a code twice in a row, or in two rows of one call (two
//	                          split 3505 rows excepted)
//	code_count           -1   trdn_flag 0 and sel_retn_cnt ≠ number of codes
//	bchno_twice_in_call  -1   one fixmedins_bchno in two rows of a call
//	bchno_conflict       -1   批次流水号冲突: the bchno is taken by a row with other content
//	duplicate_bchno      -1   TextDuplicateNo: every row is already there, identical
//	partial_duplicate    -1   some rows of a multi-row call are already there
//	sold_code            -1   TextSoldCode: <codes>
//	unknown_reference    -1   a 3504/3506 names no active 3503/3505
//	return_mismatch      -1   a return that does not fit its original (see below)
//	unknown_bchno        -1   3507 of a bchno never accepted
//	already_deleted      -1   3507 of a bchno already deleted
//	delete_type          -1   3507 inv_data_type is not the row's (1 盘存, 2 库存变更, 3 purchase, 4 sale)
//	delete_blocked       -1   3507 of a row with returns in force, or of a return whose
//	                          codes were sold again meanwhile
//	row_refused          -1   a row named by RefuseRows: fixmedins_bchno[…]: <msg>
//
// The gateway signature is checked before the timestamp window, and the
// envelope signature before its window, so that a caller without the
// secret learns nothing about the clock.
//
// # Gateway header schemes (Options.Scheme)
//
//   - none: no headers checked.
//   - x-tif: x-tif-paasid = PaasID, x-tif-timestamp = Unix seconds,
//     x-tif-nonce, x-tif-signature = lowercase hex SHA-256(timestamp +
//     PaasToken + nonce + timestamp). A nonce is refused again for two
//     windows (after that the timestamp is stale anyway).
//   - api: _api_access_key = APIAccessKey, _api_name / _api_version equal
//     to APIName / APIVersion when set, _api_timestamp 13-digit ms,
//     _api_signature = Base64(HmacSHA1(APISecretKey,
//     "_api_access_key=…&_api_name=…&_api_timestamp=…&_api_version=…")).
//
// # SM2/SM4 envelope (Options.Envelope = sm2sm4)
//
// The body is the channel envelope {appId, encType, signType, timestamp,
// version, encData, signData} (nhsa.md §4.1). encData is decrypted with
// gm.DeriveDataKey(appId, appSecret), strictly; signData must verify with
// the channel's public key and uid over gm.SignString of every field
// received except signData, encData and extra, plus data = the decrypted
// request object (numbers as written). The answer is an envelope with
// code 0, message 成功, the request's appId and version, a fresh
// timestamp, encData = the FSI response JSON, and signData by
// PlatformKey, same uid, over gm.SignString of the answer's fields except
// signData and encData, plus data = the response object.
//
// # FSI request
//
// Header fields are strings; unknown fields are accepted, logged and
// counted (Stats.UnknownFields) and named in the answer's warn_msg, since
// provinces add their own. Required: infno, msgid, mdtrtarea_admvs,
// infver, opter_type, opter, opter_name, inf_time, fixmedins_code,
// fixmedins_name, input; recer_sys_code when Options.RecerSysCode is set;
// signtype in provinces that ask for it (Options.Require
// "request.signtype"; nhsa.md §2.1: "(Y in some)", "建议使用SM2、SM3").
//
// Idempotency: the answer to every request that passed the header checks
// is stored under its msgid, in whatever shape it was given (FaultBusy and
// FaultBusyResult answers excepted). The same msgid
// with the same infno and input (compared as canonical JSON, so inf_time
// may differ) gets exactly the stored bytes again and changes nothing
// (Stats.DuplicateMsgids). The same msgid with other content is refused
// (msgid_reuse), because answering the old result would tell a client
// that a row it never delivered was applied. The msgid's own time must be
// within the window, so a retry after more than Window needs a new msgid;
// the fixmedins_bchno rule below makes that safe. For the same reason
// stored answers older than two windows are dropped: no request can
// reach them any more.
//
// # Input
//
// 3503/3504 take {"purcinfo": row or [rows]}, 3505/3506 {"selinfo": …},
// 3507 {"data": {fixmedins_bchno, inv_data_type}}. Field names, JSON
// types, lengths and required fields are the tables of contract.go.
// Unknown fields are accepted and logged. Required by default, as the
// tables mark them: rtal_docno on 3505, purc_invo_no on 3504; not
// required: psn_cert_type, hi_feesetl_type, rx_circ_flag (代码标识 Y,
// 是否必填 blank in InsureGoodSell/InsureGoodSellBack), prod_geay_flag on
// 3503. Beyond the tables the sandbox requires medins_prod_purc_no on 3504
// and medins_prod_sel_no on 3506, since a return must name its original,
// and drugtracinfo on 3505 (无码不结算, nhsa.md §5).
//
// In the AnswerInfcode and AnswerRetRslt shapes a call with several rows
// is applied whole or not at all; in AnswerPerRow each row on its own.
//
// # Province profile (Options)
//
//   - InputStyle: InputAny (default) takes the node as one row object or
//     a list of rows; InputList only a list; InputObject only one object
//     per call (older clients, nhsa.md §3.1). 3507 is always one object.
//   - MaxInput: the longest input in characters, 40,000 by default (the
//     envelope table's "input ≤40000"); longer is refused input_too_long.
//   - AllowDuplicateBchno: a platform that does not enforce
//     fixmedins_bchno uniqueness. A row again under a taken bchno is then
//     recorded again (the ledger row's Applied becomes 2) unless another
//     rule refuses it; a sale sent again is refused sold_code, since its
//     codes are held by the first copy.
//   - Require / Relax: "infno.field" or "request.field" entries that make
//     a field required or optional, e.g. Require "3506.psn_cert_type"
//     and "request.signtype" for provinces whose tables ask for them, or
//     Relax "3505.rtal_docno" and "3504.purc_invo_no" for a client that
//     does not send them yet. Validate refuses unknown fields, and fields
//     without which the sandbox cannot work (fixmedins_bchno, msgid …).
//   - Answer: the answer shape (below).
//
// # Business rules
//
//   - fixmedins_bchno is unique per institution across 3503-3506 (unless
//     AllowDuplicateBchno). The same row again (same infno, same content)
//     under a new msgid answers TextDuplicateNo and changes nothing; other
//     content under a taken bchno is a conflict. After a 3507 the bchno is
//     free again.
//   - One code, one sale, across all institutions: a 3505 is refused with
//     TextSoldCode when a code is held by a 3505 in force (not
//     deleted and not returned for that code by a 3506 in force). 拆零:
//     a row with trdn_flag 1 may repeat a code held only by split sales;
//     a code held by a split sale cannot be sold whole.
//   - A 3506 names its sale by medins_prod_sel_no (the sale's own
//     medins_prod_sel_no, or its fixmedins_bchno). The sale must be in
//     force, of the same med_list_codg and trdn_flag, hold every returned
//     code not yet returned, and have enough count left; its returned
//     codes become sellable. 3504 against 3503 likewise, by
//     medins_prod_purc_no.
//   - 3507 deletes a row by fixmedins_bchno: a sale's codes become
//     sellable, a return's original holds its codes again. Rows with
//     returns in force must have those deleted first.
//   - RefuseRows(msg, bchnos…) makes the platform refuse those rows for
//     reasons of its own (row_refused) until cleared with an empty msg.
//
// Accepted rows go to the ledger (Rows) with Applied 1; a 3507 adds its
// own entry and marks the deleted row.
//
// # Answers
//
// An FSI answer has infcode, inf_refmsgid = the institution's admdvs (6) +
// time (14, UTC+8) + a 10-digit serial, refmsg_time (request received)
// and respond_time as yyyyMMddHHmmssSSS with real milliseconds, err_msg,
// warn_msg, and output in these shapes (Options.Answer, or per request
// with InjectAnswers, queued and taken like faults):
//
//   - AnswerInfcode (default): infcode 0 without output, or infcode -1
//     with the reason in err_msg.
//   - AnswerRetRslt: infcode 0 and output {"result": {"retRslt": "1",
//     "msgRslt": "成功"}}; a refused row (its fields or a business rule)
//     gives retRslt "0" and the reason in msgRslt, and nothing is applied.
//   - AnswerPerRow: infcode 0 and output {"invinfoErrDetail": [{
//     med_list_codg, fixmedins_hilist_id, fixmedins_hilist_name,
//     fixmedins_bchno, retRslt, msgRslt}, …]}, one entry per row in the
//     order sent; accepted rows are applied, refused rows are not.
//
// Refusals of the FSI header and of the input as a whole (invalid_input,
// input_too_long, missing_node, invalid_row, input_style) are infcode -1
// in every shape; in AnswerRetRslt the rules across rows
// (bchno_twice_in_call, duplicate_code) are retRslt "0" like any row's.
//
// # Faults (InjectFaults)
//
// Each request takes the first queued fault once its body is read:
//
//   - FaultHTTP500: HTTP 500 {"code":500,"message":…} before anything.
//   - FaultApplyThenTimeout: applied and stored under the msgid, never
//     answered (the connection is held).
//   - FaultApplyThen500: applied and stored under the msgid, then HTTP 500
//     with the JSON body {"code":500,"message":"Internal Server Error"}.
//   - FaultSlow: answered after SlowDelay; nothing applied if the client
//     leaves first.
//   - FaultBusy: infcode -1 TextBusy; nothing applied or stored.
//   - FaultBusyResult: infcode 0 with output.result {retRslt "0", msgRslt
//     TextBusy…}: the business form of busy; nothing applied or stored.
//
// After a fault that applied, the same msgid with the same content is
// answered from the store, byte for byte (Stats.DuplicateMsgids), and the
// same rows under a new msgid get TextDuplicateNo.
package sandbox
