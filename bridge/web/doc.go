// Package web serves the aRPC Bridge web inspector: a page that follows one
// served machine live (states in schema order with their active flag and
// tick, the relations as a graph, a log of clock changes) and mutates it,
// talking Connect to the same server (bridge.Server's Connect door).
//
// The page is built from the TypeScript sources in web/ (scripts/web.sh
// build) into dist/, which is committed and embedded, so the binary needs no
// npm. Mount [Handler] at "/" of bridge.ServerOpts.HTTP.
package web
