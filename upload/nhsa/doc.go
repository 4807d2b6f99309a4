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
//   - Client.Deliver: bill → rows → one call per bill, held-back bills,
//     resend after unknown outcomes, classification.
//
// # Bill types
//
//	102 采购入库            → 3503 商品采购        purcinfo
//	202 退货出库 (supplier) → 3504 商品采购退货    purcinfo + medins_prod_purc_no
//	321 使用/零售出库       → 3505 商品销售        selinfo
//	116 消费者退货入库      → 3506 商品销售退货    selinfo + medins_prod_sel_no
//
// Any other type is Permanent ("not a 医保 进销存 bill type"). A bill is
// one call whose input node holds the list of its rows ({"selinfo":
// [...]}); provinces that take one row object per call are not supported.
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
//   - fixmedins_bchno = the bill code without '-' + the row number padded
//     to two digits ("01"…"99", then "100"…); longer than 30 characters is
//     Permanent (shorten the bill prefix). Bill codes are fixed at
//     creation, so the rows of a bill are the same at every attempt;
//   - 3505: medins_prod_sel_no = the row's own fixmedins_bchno; stoout_no =
//     the bill code unless the attr nhsa.stoout_no says otherwise;
//   - 3506: medins_prod_sel_no = fixmedins_bchno of the original sale row.
//     item.Ref names the original bill; its items (Config.Items) are
//     grouped the same way and the row holding the item's pack (same kind,
//     whole or split, preferred) is named. Return rows are therefore also
//     grouped by the original row they refer to. When the original bill
//     is pruned, or does not hold the pack, its first row ("…01") is named
//     and the memo says so (原销售单…取其首行); the Done message repeats it.
//     An item without Ref takes the attr nhsa.medins_prod_sel_no or holds
//     the bill back;
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
//     optional attrs nhsa.dynt_no, nhsa.purc_invo_codg, nhsa.purc_invo_no;
//   - 3505/3506 person and settlement data from bill.Attrs "nhsa.<json
//     name>": setl_id, mdtrt_sn, psn_no, psn_cert_type, certno, psn_name;
//     3505 also hi_feesetl_type, mdtrt_setl_type, prsc_dr_cert_type,
//     prsc_dr_certno, prsc_dr_name, rxno, rx_circ_flag, rtal_docno; the
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
// # msgid and unknown outcomes
//
// msgid = fixmedins_code (12) + yyyyMMddHHmmss in UTC+8 (14) + MsgIDSlot
// (1) + Sequence()%1000 (3): unique per device unless a device makes more
// than 1000 calls in a second, and across devices through their slots.
// Each new request draws one. When a request was written and no
// trustworthy answer came (timeout after writing, broken connection, HTTP
// 5xx, garbage, an answer that fails verification), the outcome is Retry
// with MaybeApplied and the progress keeps the request: the next attempt
// sends the SAME request, same msgid and rows (the platform answers a
// repeated msgid with its first answer). When the queue reports an unknown
// outcome without such progress (the agent died mid-attempt, so the msgid
// was never recorded), the bill is rebuilt and sent under a new msgid: its
// rows carry the same fixmedins_bchno, and the duplicate-row answer counts
// as delivered.
//
// # Progress (upload.Job.Progress / upload.Outcome.Progress), version 1
//
//	{"v": 1,
//	 "infno": "3505",
//	 "state": "sending",        // sending | answered | unsent | held
//	 "msgid": "P37020304446202601271015300042",
//	 "sends": 2,                // times this msgid was sent
//	 "rows": 3,
//	 "infcode": -1,             // last infcode, when an answer arrived
//	 "request": {...}}          // the FSI request as sent; "sending" only
//
// sending = resend request as it is; answered = the platform answered this
// msgid (the next attempt, if any, builds a new request); unsent = the
// request never left the device; held = held back, nothing sent. An
// unreadable progress is treated like an unknown outcome without a
// recorded msgid.
//
// # Outcomes
//
//	infcode 0                                   → Done, Ref = inf_refmsgid (msgid if none)
//	err_msg contains fsi.ErrTextDuplicateNo     → Done (rows already there)
//	err_msg contains fsi.ErrTextSoldCode        → Permanent, the platform's words
//	err_msg busy (fsi.ErrTextBusy, 繁忙) or 超时/timeout → Retry
//	err_msg refusing the msgid or its time
//	  (报文ID 重复/已用/超出, 交易时间 超出)       → Retry, new msgid next time
//	other non-zero infcode                      → Permanent with err_msg
//	HTTP 401/403; gateway and channel refusals 签名不一致, 验签失败, 非法用户,
//	  签名时间戳超时, 缺少服务网关的请求头, 请求重放,
//	  appId不存在, 解密失败, timestamp超时        → Permanent with a hint (credentials, clock)
//	other channel refusals (code ≠ 0)           → Retry (they say nothing about the bill)
//	HTTP 5xx, non-JSON, JSON without infcode    → Retry, MaybeApplied
//	network error before writing                → Retry; after writing: MaybeApplied
//	other HTTP status without an FSI answer     → Retry (check the URL)
//	SM envelope answer failing verification     → Retry, MaybeApplied, a loud message
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
// held-back wait (HoldRetry). Not configurable but open: rows as a list in
// one call, the duplicate-msgid behaviour, the exact err_msg texts of
// real provinces (unknown texts are Permanent by infcode), and the code
// sets of hi_feesetl_type, mdtrt_setl_type and rx_circ_flag, which are
// passed through from the POS as given.
package nhsa
