package sandbox

// Reasons under which refusals are counted in Stats.Rejected; the package
// documentation tells what each means and how it is answered.
const (
	// HTTP layer.
	reasonMisconfigured = "misconfigured"
	reasonMethod        = "method_not_allowed"
	reasonBodyTooLarge  = "body_too_large"
	reasonUnreadable    = "unreadable_body"
	reasonContentType   = "content_type"

	// Gateway headers.
	reasonMissingHeader  = "missing_header"
	reasonUnknownUser    = "unknown_user"
	reasonUnknownService = "unknown_service"
	reasonBadTimestamp   = "bad_timestamp"
	reasonBadSignature   = "bad_signature"
	reasonStaleTimestamp = "stale_timestamp"
	reasonReplay         = "replayed_nonce"

	// SM2/SM4 envelope.
	reasonEnvInvalid   = "envelope_invalid"
	reasonEnvApp       = "envelope_unknown_app"
	reasonEnvEncType   = "envelope_enc_type"
	reasonEnvSignType  = "envelope_sign_type"
	reasonEnvVersion   = "envelope_version"
	reasonEnvTimestamp = "envelope_timestamp"
	reasonEnvDecrypt   = "envelope_decrypt"
	reasonEnvSignature = "envelope_signature"
	reasonEnvStale     = "envelope_stale"

	// FSI request header.
	reasonInvalidJSON      = "invalid_json"
	reasonWrongType        = "wrong_type"
	reasonMissingField     = "missing_field"
	reasonTooLong          = "too_long"
	reasonUnknownInfno     = "unknown_infno"
	reasonUnknownInst      = "unknown_institution"
	reasonInvalidMsgid     = "invalid_msgid"
	reasonInstName         = "institution_name"
	reasonAdmdvs           = "invalid_admdvs"
	reasonRecerSysCode     = "recer_sys_code"
	reasonOpterType        = "invalid_opter_type"
	reasonInfTime          = "invalid_inf_time"
	reasonInvalidInput     = "invalid_input"
	reasonInputTooLong     = "input_too_long"
	reasonInputStyle       = "input_style"
	reasonStaleMsgid       = "stale_msgid"
	reasonStaleInfTime     = "stale_inf_time"
	reasonBusy             = "busy"
	reasonMsgidReuse       = "msgid_reuse"
	reasonMissingNode      = "missing_node"
	reasonInvalidRow       = "invalid_row"
	reasonInvalidDate      = "invalid_date"
	reasonInvalidTime      = "invalid_time"
	reasonFutureTime       = "future_time"
	reasonInvalidNumber    = "invalid_number"
	reasonInvalidCount     = "invalid_count"
	reasonInvalidFlag      = "invalid_flag"
	reasonInvalidCode      = "invalid_code"
	reasonDuplicateCode    = "duplicate_code"
	reasonCodeCount        = "code_count"
	reasonExpiry           = "expiry_before_manufacture"
	reasonBchnoTwiceInCall = "bchno_twice_in_call"

	// Business rules.
	reasonDuplicateBchno = "duplicate_bchno"
	reasonBchnoConflict  = "bchno_conflict"
	reasonPartialDup     = "partial_duplicate"
	reasonSoldCode       = "sold_code"
	reasonUnknownRef     = "unknown_reference"
	reasonReturnMismatch = "return_mismatch"
	reasonUnknownBchno   = "unknown_bchno"
	reasonAlreadyDeleted = "already_deleted"
	reasonDeleteType     = "delete_type"
	reasonDeleteBlocked  = "delete_blocked"
	reasonRowRefused     = "row_refused"
)
