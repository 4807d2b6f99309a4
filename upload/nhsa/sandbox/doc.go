// Package sandbox is a strict stand-in for a provincial 医保 (NHSA) FSI
// gateway serving the 进销存 interfaces 3503-3507 (package fsi is the
// contract). The real gateways are out of reach from development
// machines, so tests, the demo and `pda-agent sandbox` talk to this one.
// It behaves like an unforgiving platform rather than a stub: it checks
// the gateway headers, the SM2/SM4 envelope, every field of the FSI
// request and its input, and the business rules (a trace code sells
// once), with its own code and never the client's; it keeps a ledger
// (Rows) that shows whether anything was lost or applied twice; and it
// injects the faults real gateways have (Fault).
//
// Sources: ../../../shared/reference/nhsa.md. Where provinces differ or
// the platform's behaviour is unconfirmed, the sandbox takes the strict
// reading and says so below.
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
//   - FSI refusals: HTTP 200 and an fsi.Response with infcode -1 and the
//     reason in err_msg (≤ 200 characters), encrypted and signed like any
//     answer in sm2sm4 mode.
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
//	unknown_infno        -1   infno not 3503-3507
//	unknown_institution  -1   fixmedins_code not configured
//	invalid_msgid        -1   msgid not fixmedins_code + yyyyMMddHHmmss + 4 digits
//	institution_name     -1   fixmedins_name differs from the configured name
//	invalid_admdvs       -1   mdtrtarea_admvs not the institution's 6 digits; insuplc_admdvs not 6 digits
//	recer_sys_code       -1   recer_sys_code differs from Options.RecerSysCode (when set)
//	invalid_opter_type   -1   opter_type not 1, 2 or 3
//	invalid_inf_time     -1   inf_time not yyyy-MM-dd HH:mm:ss
//	invalid_input        -1   input not a JSON object, or over MaxInput characters
//	stale_msgid          -1   the time in msgid outside ±Window (read as UTC+8)
//	stale_inf_time       -1   inf_time outside ±Window (UTC+8)
//	busy                 -1   系统繁忙 (FaultBusy; not stored under the msgid)
//	msgid_reuse          -1   a msgid seen before with another infno or input
//	missing_node         -1   input lacks the interface's node
//	invalid_row          -1   the node is not an object (or, for 3503-3506, a non-empty array of objects)
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
//	duplicate_bchno      -1   fsi.ErrTextDuplicateNo: every row is already there, identical
//	partial_duplicate    -1   some rows of a multi-row call are already there
//	sold_code            -1   fsi.ErrTextSoldCode: <codes>
//	unknown_reference    -1   a 3504/3506 names no active 3503/3505
//	return_mismatch      -1   a return that does not fit its original (see below)
//	unknown_bchno        -1   3507 of a bchno never accepted
//	already_deleted      -1   3507 of a bchno already deleted
//	delete_type          -1   3507 inv_data_type is not the row's (3 purchase, 4 sale)
//	delete_blocked       -1   3507 of a row with returns in force, or of a return whose
//	                          codes were sold again meanwhile
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
// The body is an fsi.Envelope. encData is decrypted with
// gm.DeriveDataKey(appId, appSecret), strictly; signData must verify with
// the channel's public key and uid over gm.SignString of every field
// received except signData, encData and extra, plus data = the decrypted
// request object (numbers as written). The answer is an fsi.Envelope with
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
// fixmedins_name, input, and recer_sys_code when Options.RecerSysCode is
// set.
//
// Idempotency: the answer to every request that passed the header checks
// is stored under its msgid (FaultBusy answers excepted). The same msgid
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
// 3507 {"data": {fixmedins_bchno, inv_data_type}}. Field names and JSON
// types come from fsi.Purchase, fsi.Sale and fsi.Delete; required fields
// from fsi.Required*. Unknown fields are accepted and logged. A call with
// several rows is applied whole or not at all: its answer cannot speak per
// row.
//
// # Business rules
//
//   - fixmedins_bchno is unique per institution across 3503-3506. The same
//     row again (same infno, same content) under a new msgid answers
//     fsi.ErrTextDuplicateNo and changes nothing; other content under a
//     taken bchno is a conflict. After a 3507 the bchno is free again.
//   - One code, one sale, across all institutions: a 3505 is refused with
//     fsi.ErrTextSoldCode when a code is held by a 3505 in force (not
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
//
// Accepted rows go to the ledger (Rows) with Applied 1; a 3507 adds its
// own entry and marks the deleted row.
//
// # Answers
//
// fsi.Response with infcode 0 or -1, inf_refmsgid = the institution's
// admdvs (6) + time (14, UTC+8) + a 10-digit serial, refmsg_time (request
// received) and respond_time as yyyyMMddHHmmssSSS with real milliseconds,
// err_msg, warn_msg; output is empty (omitted) for these interfaces.
package sandbox
