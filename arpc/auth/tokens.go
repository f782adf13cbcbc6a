package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync/atomic"

	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

// DefaultTokenIdentity is the identity of a file's single clear-text
// `token:` when the file names none.
const DefaultTokenIdentity = "token"

// Tokens maps bearer tokens to identities. It stores SHA-256 sums only;
// Lookup compares in constant time. Safe for concurrent use; Reload swaps
// the contents atomically. A nil *Tokens accepts no token.
type Tokens struct {
	path string
	set  atomic.Pointer[[]tokenEntry]
}

type tokenEntry struct {
	identity string
	sum      [sha256.Size]byte
}

// LoadTokens reads a token file (YAML or JSON):
//
//	tokens: [{identity: NAME, sha256: HEX}, ...]
//
// or, for tests, one token in clear (`token: SECRET`, with an optional
// `identity:`, default DefaultTokenIdentity). Errors wrap ErrBadFile.
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// ParseTokens is LoadTokens for data in memory; name is used in errors and
// tells the format by its extension.
func ParseTokens(name string, data []byte) (*Tokens, error) {
	set, err := parseTokens(name, data)
	if err != nil {
		return nil, err
	}
	t := &Tokens{}
	t.set.Store(&set)
	return t, nil
}

// NewTokens maps each token to its identity (token → identity), for
// programs that keep tokens elsewhere.
func NewTokens(tokens map[string]string) *Tokens {
	set := make([]tokenEntry, 0, len(tokens))
	for tok, id := range tokens {
		set = append(set, tokenEntry{identity: id, sum: sha256.Sum256([]byte(tok))})
	}
	t := &Tokens{}
	t.set.Store(&set)
	return t
}

// Reload reads the file again; on error the previous tokens stay.
func (t *Tokens) Reload() error {
	if t.path == "" {
		return nil
	}
	n, err := readDoc(t.path)
	if err != nil {
		return err
	}
	set, err := tokensOf(t.path, n)
	if err != nil {
		return err
	}
	t.set.Store(&set)
	return nil
}

// Path returns the file the tokens were loaded from, "" for none.
func (t *Tokens) Path() string { return t.path }

// Lookup returns the identity of token. Every entry is compared, in
// constant time, whatever matches.
func (t *Tokens) Lookup(token string) (identity string, ok bool) {
	if t == nil || token == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	for _, e := range *t.set.Load() {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 && !ok {
			identity, ok = e.identity, true
		}
	}
	return identity, ok
}

// Len returns how many tokens are known.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(*t.set.Load())
}

func parseTokens(name string, data []byte) ([]tokenEntry, error) {
	n, err := parseDoc(name, data)
	if err != nil {
		return nil, err
	}
	return tokensOf(name, n)
}

func tokensOf(name string, doc schemafile.Node) ([]tokenEntry, error) {
	var set []tokenEntry
	var clear, list *schemafile.NodeField
	identity := DefaultTokenIdentity
	for _, f := range doc.Fields() {
		switch f.Key {
		case "tokens":
			list = &f
		case "token":
			clear = &f
		case "identity":
			id, err := str(name, f.Val, "identity")
			if err != nil {
				return nil, err
			}
			identity = id
		default:
			return nil, badKey(name, f, "unknown field %q (want tokens, or "+
				"token with an optional identity)", f.Key)
		}
	}
	switch {
	case clear != nil && list != nil:
		return nil, badKey(name, *clear, "give tokens or token, not both")
	case clear != nil:
		tok, err := str(name, clear.Val, "token")
		if err != nil {
			return nil, err
		}
		if tok == "" || identity == "" {
			return nil, badAt(name, clear.Val, "token and identity must not be empty")
		}
		return append(set, tokenEntry{identity: identity,
			sum: sha256.Sum256([]byte(tok))}), nil
	case list == nil:
		l, c := doc.Pos()
		return nil, fileErr(name, schemafile.Errorf(l, c, ErrBadFile,
			"no tokens: want tokens: [{identity: NAME, sha256: HEX}] or token: SECRET"))
	case !list.Val.IsSeq() && !list.Val.IsNull():
		return nil, badAt(name, list.Val, "tokens must be a list, not %s",
			list.Val.Kind())
	}
	seen := map[[sha256.Size]byte]bool{}
	for _, it := range list.Val.Items() {
		if !it.IsMap() {
			return nil, badAt(name, it, "a token must be a mapping "+
				"{identity: NAME, sha256: HEX}, not %s", it.Kind())
		}
		var e tokenEntry
		var hasSum bool
		for _, f := range it.Fields() {
			switch f.Key {
			case "identity":
				id, err := str(name, f.Val, "identity")
				if err != nil {
					return nil, err
				}
				if id == "" {
					return nil, badAt(name, f.Val, "identity must not be empty")
				}
				e.identity = id
			case "sha256":
				h, err := str(name, f.Val, "sha256")
				if err != nil {
					return nil, err
				}
				b, err := hex.DecodeString(h)
				if err != nil || len(b) != sha256.Size {
					return nil, badAt(name, f.Val, "sha256 must be 64 hex digits "+
						"(the SHA-256 of the token, e.g. from sha256sum)")
				}
				copy(e.sum[:], b)
				hasSum = true
			default:
				return nil, badKey(name, f, "unknown field %q (want identity, sha256)",
					f.Key)
			}
		}
		switch {
		case e.identity == "":
			return nil, badAt(name, it, "token without identity")
		case !hasSum:
			return nil, badAt(name, it, "token without sha256")
		case seen[e.sum]:
			return nil, badAt(name, it, "the same token twice")
		}
		seen[e.sum] = true
		set = append(set, e)
	}
	return set, nil
}
