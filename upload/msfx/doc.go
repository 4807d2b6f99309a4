// Package msfx uploads bills (单据) to 码上放心, the Alibaba Health
// drug-trace platform, through its TOP gateway, for one retail pharmacy
// (the lsyd methods). It has two layers:
//
//   - a TOP client (Client.Call and the typed query methods): signed form
//     POSTs (md5, hmac or hmac-sha256 over the ASCII-sorted parameters,
//     empty parameters never sent, timestamps in UTC+8 whatever the host
//     zone), bounded answers, and every failure classified as an *Error
//     (Retry or Permanent, with the platform's words and any wait it asked
//     for) following msfx.md §5.2. One rate limiter and one ban per Client
//     (per AppKey) hold back every call, uploads, queries and polls alike.
//   - an upload.Destination (Client.Deliver): bill type → method and
//     parameters, deterministic split of big bills, look-up before resend
//     when an earlier attempt's outcome is unknown, and status polling until
//     the platform has processed the bill.
//
// # Parts
//
// A bill with more codes than the method's per-call limit is cut, in item
// order, into parts <bill_code>_1, <bill_code>_2, …; a bill that fits keeps
// its bill_code. bill_code is the platform's idempotency key, so the cut is
// recorded in the progress and kept across attempts.
//
// # Progress (upload.Job.Progress / upload.Outcome.Progress), version 1
//
// A JSON object carried by the queue between attempts; every outcome
// carries the whole, updated object:
//
//	{"v": 1,
//	 "method": "alibaba.alihealth.drugtrace.top.lsyd.uploadinoutbill",
//	 "limit": 3500,                 // codes per part used for the cut
//	 "skip_non_msfx": true,         // present when non-码上放心 codes were left out
//	 "parts": [
//	   {"code": "RK001_1",          // the part's bill_code
//	    "n": 3500, "sum": "9f2c…",  // code count, SHA-256 prefix of the comma-joined codes
//	    "state": "final",           // pending | sending | sent | final
//	    "how": "sent",              // sent | duplicate | found (once on the platform)
//	    "queue_id": "200118368918456",
//	    "sent_at": "2026-11-27T10:01:05+08:00",
//	    "check_errors": "{\"3\":\"8644…\"}",  // code_check_error_info as received
//	    "result": 3,                // query.billstatus result_type (final: 3 or 4)
//	    "process_info": "…",        // the platform's words for a final part
//	    "polls": 2}]}               // status checks that found it not final
//
// States: pending = not sent (or refused); sending = a request was written
// and no answer came back, so the part is looked up (lsyd.query.upbilldetail
// by exact code) before it may be sent again; sent = on the platform, being
// processed; final = processing over. When the queue says the last outcome is
// unknown (crash, lease expiry), every part not known to be on the platform
// is treated as sending. A progress that cannot be read is treated the same
// way, so it never causes a blind resend.
//
// # Outcomes
//
// Parts uploaded in this attempt → upload.Wait (PollInterval). Parts on the
// platform and not final → upload.Wait. Any part 处理失败 (result_type 4) →
// upload.Permanent with the platform's process_info. All parts 处理成功 →
// upload.Done with Ref "<part>:<queue id>,…" and CodeErrors merged from
// code_check_error_info, lsyd.listbillprocesspartsuccess and codes left out
// by SkipNonMSFX. The answer "该单据号已存在" counts as uploaded. Throttling
// (TOP code 7) is always a Retry with the ban's length, never a business
// failure.
package msfx
