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
// # Answers as the platform gives them
//
// Every method's request parameters and answer fields follow the public
// SDK declarations, method by method (package wire; each type names the
// one it follows; docs/protocol-fields.md lists every field with its
// source). The primary source is the generated Go SDK of 2025-12,
// github.com/golgys0621/topsdk, ability2939:
//
//	uploadinoutbill, uploadretail   response/AlibabaAlihealthDrugtraceTopLsyd{Uploadinoutbill,Uploadretail}Response.go
//	                                (fields at the top level; domain/…OperationInfoMap.go)
//	query.upbillcode                domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbillcodeResult.go, …BillUpstreamDTO.go
//	listupout                       domain/AlibabaAlihealthDrugtraceTopLsydListupoutResultModel.go, …PageInfoDto.go, …BillUpOutDetailDo.go
//	listupout.detail                domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetail{ResultModel,BillUpOutDetailDto,DrugInfosDto,CodeInfoListDto}.go
//	query.billstatus                domain/AlibabaAlihealthDrugtraceTopLsydQueryBillstatus{ResultModel,PageInfoDto,BillDealStatusSearchDo}.go
//	query.upbilldetail              domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetail{ResultModel,BillInOutDetailDto,…}.go
//	query.codedetail                domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetail{ResultModel,CodeFullInfoDto,CodeProduceInfoDto,ProduceInfoDto,CodeStatusTypeDto}.go
//	query.relation                  domain/AlibabaAlihealthDrugtraceTopLsydQueryRelation{ResultModel,CodeRelationDto,CodeInfo,PkgInfoDto,ProduceInfoDto}.go
//	listbillprocesspartsuccess      response/AlibabaAlihealthDrugtraceTopLsydListbillprocesspartsuccessResponse.go
//	                                (fields at the top level; model = domain/…PageInfoDTO.go {result[], pages, total_num, page_size, page})
//	drug.lsyd.getentinfolist        request/AlibabaAlihealthDrugLsydGetentinfolistRequest.go (ref_ent_id required),
//	                                domain/AlibabaAlihealthDrugLsydGetentinfolist{ResultModel,TopEntInfoRespDto}.go
//	drug.lsyd.searchbill            request/AlibabaAlihealthDrugLsydSearchbillRequest.go (all required but the filters),
//	                                domain/AlibabaAlihealthDrugLsydSearchbill{ResultModel,PageInfoDto,BillChkInOutDo}.go (reconcile.go)
//
// The per-method metadata of github.com/bububa/opentaobao
// (metadata/assets/json/drugtrace/alibaba_alihealth_drugtrace_top_lsyd_*.json)
// gives the list element types whose XML names wrap lists in the classic
// JSON shape; COOLSHARPMAN/mashangfangxin alibaba_api.py and
// pacmandoh/pactoolkits MsfxApiClient.cs read the same answers.
//
// Requests send simplify=true by default (Config.Simplify; the agent's
// msfx.simplify defaults to true), as the public SDKs do. Every answer is
// read tolerantly whatever was asked (wire.Decode, wire.List, wire.Page):
// fields inside "result" or at the top level of "<method>_response" (or of
// the body without the wrapper), lists as plain arrays or wrapped in their
// element's name ({"drug_infos_dto": […]}), model as object or list, ids
// and counts as numbers or strings, flags as booleans or strings. Unknown
// fields are ignored and missing ones are absent; only a shape no source
// allows (a list answered with a number) fails the answer, as a Retry.
// testdata/ holds hand-written golden answers of every method in both
// list shapes and both layouts.
//
// Receiving (ListUpOutDetail) returns a supplier bill's packs at the
// smallest level: codes of code_level 1 as listed, bigger packages
// expanded through query.relation (code_relation_list rows of
// code_pack_level 1), one call per case; a case the platform does not
// expand stays one pack.
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
//	    "sub": "52",                // query.billstatus sub_process_flag of a final part, if given
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
// by SkipNonMSFX. listbillprocesspartsuccess is asked (paged by its pages)
// only for a part whose status row says sub_process_flag 52 (部分成功) or
// gives no flag; 51 (全部成功) spares the call. That the platform always
// sends the flag is unconfirmed (the 2025-12 SDK declares it, the older
// metadata does not). physic_type is 2 (特药) only when every code of a
// part is 89-prefixed, 3 otherwise, mixed bills included (the platform
// re-derives it; msfx.md §4.2). The answer "该单据号已存在" counts as uploaded. Throttling
// (TOP code 7) is always a Retry with the ban's length, never a business
// failure.
package msfx
