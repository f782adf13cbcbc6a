package arpc

import (
	"context"
	"fmt"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// SendPayload sends payload to this server's client, whose Consumer gets it
// as a WorkerPayload activation. It goes the way of every payload: as an
// Add of the worker's payload state (ServerOpts.PayloadState, default
// states.WorkerStates.SendPayload), addressed with A.Id to this server's
// client only, so other clients of the same worker (e.g. through a Mux) do
// not get it. An authenticated client is addressed by its identity (see
// Server.Tokens): every connection of that identity gets the payload.
//
// Empty payload.Source and payload.Token are filled in (the worker's ID and
// a random token) on the caller's payload, so the caller learns the token;
// the worker gets a copy, and payload may be reused once SendPayload
// returns. Data must be gob-encodable (see ArgsPayload.Data).
//
// It returns an error wrapping ErrNoConn when no client has completed its
// handshake, ErrInvalidParams for a nil or unencodable payload or a client
// without an ID, ErrRpc when the worker refused the mutation, and ctx's
// error when ctx ended first. nil means the payload is queued for the
// client's connection, not that it arrived. Safe for concurrent use.
func (s *Server) SendPayload(ctx context.Context, payload *ArgsPayload) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if payload == nil {
		return fmt.Errorf("%w: nil payload", ErrInvalidParams)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	clientId, err := s.payloadClient()
	if err != nil {
		return err
	}
	if err := checkValue(s.bodyEncoding(), payload.Data); err != nil {
		return fmt.Errorf("payload %q: %w", payload.Name, err)
	}
	if payload.Source == "" {
		payload.Source = s.worker.Id()
	}
	if payload.Token == "" {
		payload.Token = randToken()
	}
	p := *payload
	if err := ctx.Err(); err != nil {
		return err
	}
	res := s.worker.Add1(s.payloadState, Pass(&A{
		Id:      clientId,
		Name:    p.Name,
		Payload: &p,
	}))
	if res == am.Canceled {
		return fmt.Errorf("%w: worker %s canceled %s for payload %q", ErrRpc,
			s.worker.Id(), s.payloadState, p.Name)
	}
	return nil
}

// payloadClient returns the ID of the client a payload can be sent to: the
// one whose handshake is done.
func (s *Server) payloadClient() (string, error) {
	s.mx.Lock()
	ses := s.sess
	stopped := s.stopped
	s.mx.Unlock()
	if stopped || ses == nil {
		return "", fmt.Errorf("%w: server %s has no client", ErrNoConn, s.name)
	}
	ses.mx.Lock()
	ready, id := ses.ready && ses.sub != nil, ses.clientId
	if ses.identity != "" {
		// authenticated: payloads are addressed to identities (all of the
		// identity's connections get it), never to self-declared IDs
		id = ses.identity
	}
	ses.mx.Unlock()
	switch {
	case !ready:
		return "", fmt.Errorf("%w: client of %s has not completed its handshake",
			ErrNoConn, s.name)
	case id == "":
		// an empty A.Id would address every client of the worker
		return "", fmt.Errorf("%w: client of %s has no ID to address",
			ErrInvalidParams, s.name)
	}
	return id, nil
}

// bodyEncoding is the encoding of the client's connection (gob without
// one).
func (s *Server) bodyEncoding() wire.Encoding {
	s.mx.Lock()
	ses := s.sess
	s.mx.Unlock()
	if ses == nil || ses.cod == nil {
		return wire.EncodeGob
	}
	return ses.cod.bodyEncoding()
}
