package nhsa

// Interface is the 进销存 interface (infno) a bill type goes to; ok is
// false for types 医保 is not sent (pda-agent validate --needs names it).
func Interface(billType int) (infno string, ok bool) { return infnoOf(billType) }
