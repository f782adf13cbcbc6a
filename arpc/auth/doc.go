// Package auth holds the security logic both doors of the bridge share:
// who a client is (its verified certificate or its bearer token), what it
// may do (a per-state policy of mutate and observe globs), and the TLS
// material a server serves and reloads. The aRPC server and the gRPC
// facade call into it; neither decides anything about identities or
// permissions on its own.
//
// Identities. A client with a verified certificate (mTLS) is the first URI
// SAN of its leaf certificate, else its first DNS SAN, else its subject
// common name. A client with a token is the identity the token file maps
// the token to. A client with both must name the same identity twice. A
// server that has neither tokens nor a policy does not authenticate:
// everyone is the empty identity and may do everything.
//
// Files. Token and policy files are YAML or JSON, parsed like schema files
// (errors say file:line:col), and can be reloaded while serving: a reload
// that fails keeps the previous contents.
//
//	# tokens.yaml: sha256 of each token, hex; never the token itself
//	tokens:
//	  - {identity: ui-1, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
//	# or, for tests: one token in clear, identity "token" unless given
//	token: test
//
//	# policy.yaml
//	rules:
//	  - identity: "ui-*"      # glob over the identity; "*" = any authenticated
//	    mutate:  {allow: ["Job*"], deny: ["JobAdmin"]}
//	    observe: {allow: ["*"],    deny: ["Secret*"]}
//
// A state is allowed for an identity when a rule matching the identity
// allows it and no rule matching the identity denies it; with a policy
// loaded, an identity no rule matches may do nothing.
package auth
