// Package nhsa uploads a pharmacy's 进销存 (purchases, supplier returns,
// sales, customer returns) to the national medical-insurance (医保)
// platform through its provincial FSI gateway (定点医药机构接口规范), and is
// the upload.Destination of those bills. Field names, envelopes and
// confidence markers come from ../shared/reference/nhsa.md; the message
// contract shared with the sandbox is package fsi, the 国密 primitives are
// package gm.
//
// # Layers
//
//   - Client.Call: one FSI call. The request envelope (infno, msgid,
//     inf_time in UTC+8, …) around an input object, the gateway headers of
//     Config.GatewayAuth, the message envelope of Config.Envelope, a
//     bounded answer, and every failure an *Error classified for the queue.
//   - Client.Delete: 3507 for the operator, by fixmedins_bchno.
//   - Client.Deliver: bill → rows → one call per part (one part unless the
//     input would pass Config.MaxInputChars), held-back bills, write-ahead
//     and resend after unknown outcomes, classification of the FSI answer
//     and of the business result inside it.
//
// # Bill types
//
//	102 采购入库            → 3503 商品采购        purcinfo
//	202 退货出库 (supplier) → 3504 商品采购退货    purcinfo + medins_prod_purc_no
//	321 使用/零售出库       → 3505 商品销售        selinfo
//	116 消费者退货入库      → 3506 商品销售退货    selinfo + medins_prod_sel_no
//	901 盘存 (agent's own)  → 3501 商品盘存上传    invinfo (stock.go)
//	111/214/205/215/203/104/112/216/113/217 stock changes
//	                        → 3502 商品库存变更    invinfo, inv_chg_type from Config.StockChangeTypes
//
// Any other type is Permanent ("not a 医保 进销存 bill type"). A bill goes
// in as few calls as its size allows: the input node holds the list of
// the part's rows ({"selinfo": [...]}); with Config.InputShape "object"
// (provinces whose clients send one object per call, nhsa.md §3.1) every
// row is its own call ({"selinfo": {...}}).
//
// # Parts (size)
//
// No message's input exceeds Config.MaxInputChars characters (default
// 40000, the channel's limit, nhsa.md §2.1; config
// nhsa.<env>.max_input_chars). The rows not yet on the platform are cut,
// in bill order, into runs of consecutive rows as long as fit; a single
// row longer than the limit is Permanent. Each part has its own msgid and
// the progress records the row ranges known to be in ("done"), so a retry
// never resends a part that is in, and the parts of a bill are the same at
// every attempt. Done's Ref lists the parts' references, comma-separated.
//
// # Rows
//
// Items are grouped by (product key, lot) in order of first appearance,
// split items (Units > 0) apart from whole packs, one row per group:
//
//   - count (purc_retn_cnt, sel_retn_cnt) = packs (distinct item keys), or
//     for a split row the sum of the units sold, with trdn_flag "1"
//     (3505/3506; "0" otherwise);
//   - drugtracinfo = one node per pack with the code as the item holds it
//     (≤ 100 characters, or the bill is refused); always on 3505/3506, on
//     3503/3504 only with Config.PurchaseTraceCodes;
//   - fixmedins_bchno = the bill code's stem + the row number padded to two
//     digits ("01"…"99", then "100"…); longer than 30 characters is
//     Permanent (shorten the bill prefix). The stem is injective, also
//     when the platform compares without case, so devices whose ids differ
//     only by '-' or case never share a row key: a code the agent makes
//     from a device id of A-Z and 0-9 (DEV-yymmdd-nnnnn) keeps the first
//     release's stem, the code without its '-' (DEV+yymmdd+nnnnn, so rows
//     already on the platform and returns naming them still match); any
//     other device id is escaped (A-Z, 0-9 stay; '-' → "-0", '_' → "-1",
//     a lower-case letter → '-' + the letter in upper case, anything else
//     "-X" + six hex digits) and followed by '-' + yymmdd + nnnnn; any
//     other code (e.g. a POS's) is escaped whole and followed by '-'. Only
//     the first kind lacks '-', and the digits after the last '-' (11 or
//     more, or only the row number) tell the other two apart. Bill codes
//     are fixed at creation, so the rows of a bill are the same at every
//     attempt. A return refers to an original that an agent before this
//     stem sent (Config.LegacyStem: its delivery has no version-2
//     progress) under the first release's stem, which the platform holds;
//   - 3505: medins_prod_sel_no = the row's own fixmedins_bchno; stoout_no =
//     the bill code unless the attr nhsa.stoout_no says otherwise;
//     rtal_docno (零售单据号, required in the published tables) = the attr
//     nhsa.rtal_docno (the POS's receipt number), else the bill code;
//   - 3506: medins_prod_sel_no = fixmedins_bchno of the original sale row.
//     item.Ref names the original bill; its items (Config.Items) are
//     grouped the same way and the row holding the item's pack (same kind,
//     whole or split, preferred) is named. Return rows are therefore also
//     grouped by the original row they refer to. When the original bill
//     is pruned, or does not hold the pack, its first row ("…01") is named
//     and the memo says so (原销售单…取其首行); the Done message repeats it.
//     An original bill not on this device (sold on another till: the
//     return named it) takes the attr nhsa.medins_prod_sel_no when the POS
//     gives it, else its first row with the memo. An item without Ref (a
//     return naming only a receipt of a sale not on this device) takes the
//     attr nhsa.medins_prod_sel_no or holds the bill back;
//   - 3504 likewise with medins_prod_purc_no from the purchase bill
//     (attr nhsa.medins_prod_purc_no as the fallback).
//
// Data sources:
//
//   - catalogue, by item.Product (7-digit prefix or GTIN): med_list_codg,
//     fixmedins_hilist_id/_name (HilistID/HilistName), rx_flag, aprvno,
//     prodentp_name (Maker), drug_prod_barc (Barcode69, 3505/3506);
//   - the items: manu_lotnum (Lot), manu_date (Produced), expy_end (Expiry),
//     the first non-empty value of the row, checked to be yyyy-MM-dd;
//   - 3503/3504: spler_name and spler_pmtno from catalogue.Partner of
//     bill.Partner; prod_geay_flag "0" (attr nhsa.prod_geay_flag);
//     optional attrs nhsa.dynt_no, nhsa.purc_invo_codg, nhsa.purc_invo_no
//     (purc_invo_no is required on 3504: a supplier return without it is
//     held back with the reason);
//   - 3505/3506 person and settlement data from bill.Attrs "nhsa.<json
//     name>": setl_id, mdtrt_sn, psn_no, psn_cert_type, certno, psn_name;
//     3505 also hi_feesetl_type, mdtrt_setl_type, prsc_dr_cert_type,
//     prsc_dr_certno, prsc_dr_name, rxno, rx_circ_flag, rtal_docno
//     (psn_cert_type is required on 3506 with Config.ReturnPsnCertType); the
//     pharmacist (phar_*) from Config; nhsa.insuplc_admdvs overrides
//     Config.InsuplcAdmdvs in the envelope;
//   - every type: optional nhsa.memo, and nhsa.finl_trns_pric.<product key>
//     (yuan); times (purc_retn_stoin_time, sel_retn_time, inf_time) in UTC+8
//     whatever the host zone: bill.FinishedAt for rows; the operator name
//     is bill.Operator, else Config.OpterName.
//
// # Held-back bills
//
// A bill whose rows cannot be filled is never sent half-filled. Every row
// is checked against fsi.Required* (present, non-empty, counts positive),
// setl_id when mdtrt_setl_type is 1, and the documented field lengths. The
// outcome is upload.Retry after Config.HoldRetry with a message starting
// "held back: " that names each missing datum and where it comes from
// ("med_list_codg: catalogue med_list_codg of product 8123456 is empty",
// "product 8654321 (code 8654321…) is not in the catalogue", "mdtrt_sn:
// bill attr nhsa.mdtrt_sn is empty", "phar_name: config phar_name … is
// empty"), so the operator can fix the catalogue, the POS data or the
// configuration. Nothing is sent and no msgid is drawn.
//
// # msgid, write-ahead and unknown outcomes
//
// msgid = fixmedins_code (12) + yyyyMMddHHmmss in UTC+8 (14) + MsgIDSlot
// (1) + Sequence()%1000 (3): unique per device unless a device makes more
// than 1000 calls in a second, and across devices through their slots.
// Each new request draws one.
//
// Write-ahead: before a request leaves the device, Deliver commits it
// through upload.Job.Checkpoint (the queue stores the progress, state
// "sending" with the msgid, the request bytes and the part's rows, and
// marks the attempt as possibly on the wire, in one fsynced transaction).
// If that fails nothing is sent. A crash or power loss from there on
// leaves the queue with Unknown and that progress, so the next attempt
// sends the SAME request, msgid and rows. The checkpoint of each part is
// also a fence: the queue takes it only under the attempt's own lease, so
// an attempt of many parts that outlived its lease stops before its next
// part, and the newer attempt resends the part in doubt under its msgid.
//
// Any unknown outcome keeps the msgid: a timeout or reset after writing,
// an HTTP 5xx whatever its body (a JSON {"code":500,"message":…} too), a
// channel answer with a 5xx code, garbage, an answer that fails
// verification, a crash. The platform answers a repeated msgid with its
// first answer. Only an answer that refused the request draws a new msgid
// next time: a refusal of the msgid or its time (verdict "msgid"), a busy
// or other FSI answer, a gateway's refusal of the request. When the queue
// reports an unknown outcome without a recorded request (progress
// unreadable, or a destination run without Checkpoint), the bill is
// rebuilt and sent under a new msgid: its rows carry the same
// fixmedins_bchno, and the duplicate-row answer counts as delivered.
//
// # Progress (upload.Job.Progress / upload.Outcome.Progress), version 2
//
//	{"v": 2,
//	 "infno": "3505",
//	 "state": "sending",        // sending | answered | unsent | held
//	 "msgid": "P37020304446202601271015300042", // the part last sent
//	 "sends": 2,                // times this msgid was sent
//	 "rows": 40, "from": 41,    // the part's rows: 41..80
//	 "infcode": -1,             // last infcode, when an answer arrived
//	 "request": {...},          // the FSI request as sent; "sending" only
//	 "bchnos": [...], "codes": [[...]], // the part's rows; "sending" only
//	 "total": 120,              // rows of the bill
//	 "done": [[1, 40]],         // row ranges known to be on the platform
//	 "refs": ["…"],             // their inf_refmsgid (msgid if none)
//	 "refused": {"<code>": "…"}} // codes of rows refused inside accepted parts
//
// sending = resend request as it is; answered = the platform answered this
// msgid (the next attempt builds the rows not done under a new msgid);
// unsent = the request never left the device; held = held back. Version 1
// (one message per bill: no from/total/done) is still read: its "sending"
// request is the whole bill. An unreadable progress is treated like an
// unknown outcome without a recorded msgid.
//
// # Outcomes
//
// A message is in only when infcode is 0 AND its business result says so
// (business.go). Texts (err_msg, msgRslt) are judged by the verdict table
// (Verdict, DefaultVerdicts, Config.Verdicts; docs/nhsa-verdicts.md):
//
//	infcode 0, no business failure              → the part is in; Done when all are,
//	                                              Ref = inf_refmsgid (msgid if none)
//	infcode 0, output(.result).retRslt ≠ 1      → msgRslt judged: already → in;
//	                                              transient/msgid → Retry (new msgid);
//	                                              permanent or unknown → Permanent
//	infcode 0, rows with retRslt ≠ 1 in a list
//	  of {fixmedins_bchno, retRslt, msgRslt}    → per row: already → in; transient → Retry;
//	  (e.g. invinfoErrDetail[])                   refused → the row's codes become
//	                                              Outcome.CodeErrors ("医保 refused row …:
//	                                              msgRslt", shown by queue show and
//	                                              diagnose); every row refused → Permanent
//	verdict already (fixmedins_bchno重复)        → the part is in
//	verdict permanent (追溯码已销售 …)            → Permanent, the platform's words
//	verdict transient (系统繁忙, 繁忙, 超时, timeout…) → Retry
//	verdict msgid (报文ID 重复/已用/超出, 交易时间 超出) → Retry, new msgid next time
//	other non-zero infcode                      → Permanent with err_msg
//	HTTP 401/403; gateway and channel refusals 签名不一致, 验签失败, 非法用户,
//	  签名时间戳超时, 缺少服务网关的请求头, 请求重放,
//	  appId不存在, 解密失败, timestamp超时        → Permanent with a hint (credentials, clock)
//	channel answer code 5xx, or HTTP 5xx        → Retry, MaybeApplied, same msgid
//	other channel refusals (code ≠ 0)           → Retry (they say nothing about the bill)
//	HTTP 5xx, non-JSON, JSON without infcode    → Retry, MaybeApplied, same msgid
//	network error before writing                → Retry; after writing: MaybeApplied
//	other HTTP status without an FSI answer     → Retry (check the URL)
//	SM envelope answer failing verification     → Retry, MaybeApplied, a loud message
//
// Ask before resending: with Config.Query naming the province's query
// interface for the bill's kind (3510 for purchases, 3511 or 3513 for
// sales; config nhsa.query, off by default), an attempt that would resend
// a part in doubt first asks whether its first and last rows are there
// ({"data": {"fixmedins_bchno": …}}; node and field configurable). If the
// answer's output holds that fixmedins_bchno (or fixmedinsBchno) the part
// counts as in and is not sent again; otherwise, or if the question fails,
// the same request is resent. UNCONFIRMED: no public source gives these
// interfaces' field tables (see Query).
//
// Sources of the business result: output.result.{retRslt, msgRslt} as a
// public Java HIS reads it after 3505/3506 (package com.openhis.yb.dto,
// Medical3505Result.java) and nhsa.md §3.5 (3505A); invinfoErrDetail[]
// {fixmedins_bchno, retRslt 1/0, msgRslt} of 3502A in a public C# client
// (NeiMengGuYiBaoApp, Models/Output/YiBao Output_3502A). Which lists a
// given province returns for 3503-3506 is unconfirmed; any list of objects
// carrying fixmedins_bchno is read.
//
// # Transport
//
// POST, Content-Type application/json; charset=utf-8 (also for the _api_
// gateway, whose one known client sends text/plain), no redirects
// followed, one request bounded by Config.Timeout, answers by 4 MiB.
// Header schemes (nhsa.md §2.4), header names exactly as documented:
//
//   - x-tif: x-tif-paasid, x-tif-timestamp (Unix seconds), x-tif-nonce
//     (hex ms + "-" + 24 random hex digits), x-tif-signature = lowercase hex
//     SHA-256(timestamp + paasToken + nonce + timestamp);
//   - api: _api_name, _api_version, _api_timestamp (ms), _api_access_key,
//     _api_signature = Base64(HmacSHA1(secretKey, "_api_access_key=…&
//     _api_name=…&_api_timestamp=…&_api_version=…")).
//
// Envelope "sm2sm4" (nhsa.md §4): the body is fsi.Envelope with encData =
// SM4-ECB of the FSI request JSON under gm.DeriveDataKey(appId, appSecret)
// and signData = SM2 (uid Profile.UID) over the sign string of appId,
// encType, signType, timestamp (ms), version and data = the request
// object. An answer is trusted only after code 0, decryption and
// verification of its signData with Profile.PlatformKey over all its
// fields but signData/encData plus data = the decrypted object; a plain,
// unsigned answer is not trusted either.
//
// # Secrets
//
// AppSecret, PaasToken, APISecretKey, the derived SM4 key and private keys
// never appear in errors or messages: they are never formatted, and every
// message is scrubbed of the secrets' values in case a gateway echoes one.
//
// # Unconfirmed, hence configurable
//
// Header scheme (GatewayAuth) and message envelope (Envelope) per
// province; SM2 uid (Profile.UID, default 1234567812345678); OpterType
// and Infver; drugtracinfo on purchases (PurchaseTraceCodes, off); the
// held-back wait (HoldRetry); rows as a list or one object per call
// (InputShape, default list); signtype in the envelope (Signtype, default
// none); psn_cert_type required on 3506 (ReturnPsnCertType, off); the
// input size (MaxInputChars, 40000); the verdicts on the platform's texts
// (Verdicts, before DefaultVerdicts). Not configurable but open: the
// duplicate-msgid behaviour, the business-result lists of real provinces,
// and the code sets of hi_feesetl_type, mdtrt_setl_type and rx_circ_flag,
// which are passed through from the POS as given.
package nhsa
