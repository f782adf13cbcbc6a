package auth

// match reports whether s matches pattern, in which '*' matches any run of
// characters (also none) and '?' one byte; everything else matches
// itself. Unlike path.Match, '/' is an ordinary character (URI identities
// have them) and there are no classes, so no pattern is malformed. Linear
// in len(pattern)*len(s) at worst.
func match(pattern, s string) bool {
	p, i := 0, 0
	// the last star seen, and the position of s it is matched up to
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			// let the last star take one more character
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchAny reports whether any of patterns matches s.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}
