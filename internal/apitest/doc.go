// Package apitest holds a table of am.Api behaviours that any implementation
// must share with a local *am.Machine of the same schema. The aRPC remote
// worker and the gRPC-backed worker run it in their tests, next to a local
// machine, and must give the same answers.
package apitest
