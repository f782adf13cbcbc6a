package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/grpc"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// Service defaults and limits.
const (
	// DefaultHeartbeat is the heartbeat interval of a WatchClock stream that
	// asks for none.
	DefaultHeartbeat = 5 * time.Second
	// MinHeartbeat and MaxHeartbeat clamp the interval a client asks for.
	MinHeartbeat = 100 * time.Millisecond
	MaxHeartbeat = 5 * time.Minute
)

// ServiceOpts are optional settings of NewService. The zero value means
// defaults.
type ServiceOpts struct {
	// AllowId, when set, admits only this client ID (PERMISSION_DENIED for
	// others), as arpc.Server.AllowId does: an authenticated caller is
	// matched by its identity instead.
	AllowId string
	// AllowFn, when set, decides which client IDs are admitted (checked after
	// AllowId).
	AllowFn func(clientId string) bool
	// Getter answers Get, with the same signature as arpc.Server.Getter, so
	// one function can serve both doors. A nil value means the name is not
	// exposed (NOT_FOUND). Values are sent as google.protobuf.Value: JSON-like
	// values directly, others through encoding/json.
	Getter func(name string) any
	// PushInterval is the minimum spacing between two WatchClock updates of
	// one stream, with the same meaning as arpc.Server.PushInterval (and the
	// same pacing, engine.Sub.Run): positive is the spacing, 0 is no cap
	// (arpc.DefaultPushInterval), arpc.PushesDisabled (negative) sends no
	// updates after the initial sync (Mutate and Sync replies still carry
	// the clock).
	PushInterval time.Duration
	// Tokens maps the bearer tokens of "authorization: Bearer TOKEN"
	// metadata to identities, as arpc.Server.Tokens. Default: none.
	Tokens *auth.Tokens
	// Policy authorizes identities per state, as arpc.Server.Policy: calls
	// without an identity are then UNAUTHENTICATED, mutations outside the
	// policy PERMISSION_DENIED, and states an identity may not observe are
	// absent from its Handshake time, Sync, Mutate replies and WatchClock
	// updates. Default: none, everything allowed.
	Policy *auth.Policy
	// ChunkSize is the largest payload a WatchClock stream sends in one
	// Payload message to a client that asked for chunks
	// (WatchClockRequest.chunked_payloads); larger ones go as PayloadChunk
	// messages of this size, interleaved with clock updates. Default
	// arpc.DefaultChunkSize (64 KiB); at least 1 KiB.
	ChunkSize int
	// PayloadBytes caps the payload bytes pending for one stream (see
	// arpc.PayloadSize); past it, payloads are dropped and counted
	// (Heartbeat.payloads_dropped). Default arpc.DefaultPayloadBytes
	// (256 MiB); negative: no cap.
	PayloadBytes int64
	// MaxPendingTransitions bounds, per WatchClock stream that asked for
	// every transition (push_all_ticks), how many worker transitions may
	// wait for a slow reader before its next update is one merged diff
	// marked as a gap. Same meaning as arpc.Server.MaxPendingTransitions.
	// Default engine.DefaultMaxPendingTransitions (16384).
	MaxPendingTransitions int
	// Logger receives the service's diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Service implements bridgev1.BridgeServiceServer for one worker, on the
// worker's shared clock engine. Create it with NewService, register it with
// Register, and Close it when done. Safe for concurrent use.
type Service struct {
	bridgev1.UnimplementedBridgeServiceServer

	worker am.Api
	eng    *engine.Engine
	mut    *door.Mutator
	names  am.S
	index  map[string]int
	hash   string
	schema *bridgev1.Schema
	opts   ServiceOpts
	log    *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}
	// life is canceled (cause: ErrClosed) by Close, ending every stream
	life     context.Context
	lifeStop context.CancelCauseFunc

	mx       sync.RWMutex
	watchers map[string][]*watcher
	// argsWaits counts the open WhenArgs waits per client (whenargs.go)
	argsWaits argsWaitCounts
}

var _ bridgev1.BridgeServiceServer = (*Service)(nil)

// NewService attaches to worker's engine (shared with any aRPC server of the
// same worker). The worker must have the worker states
// (states.WorkerSchema) and verified state names.
func NewService(worker am.Api, opts *ServiceOpts) (*Service, error) {
	if worker == nil {
		return nil, fmt.Errorf("%w: nil worker", arpc.ErrInvalidParams)
	}
	if !worker.Has(ss.WorkerStates.Names()) {
		return nil, fmt.Errorf("%w: worker %s lacks the worker states %v",
			arpc.ErrInvalidParams, worker.Id(), ss.WorkerStates.Names())
	}
	if opts == nil {
		opts = &ServiceOpts{}
	}
	e, err := engine.Attach(worker)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", arpc.ErrWorkerGone, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names := e.Names()
	s := &Service{
		worker:   worker,
		eng:      e,
		mut:      door.MutatorFor(worker),
		names:    names,
		index:    make(map[string]int, len(names)),
		hash:     arpc.SchemaHash(worker.Schema(), names),
		schema:   toProtoSchema(worker.Schema(), names),
		opts:     *opts,
		log:      log.With("service", "bridge", "worker", worker.Id()),
		closed:   make(chan struct{}),
		watchers: map[string][]*watcher{},
	}
	s.life, s.lifeStop = context.WithCancelCause(context.Background())
	for i, n := range names {
		s.index[n] = i
	}
	return s, nil
}

// Register registers the service on a gRPC server.
func (s *Service) Register(gs grpc.ServiceRegistrar) {
	bridgev1.RegisterBridgeServiceServer(gs, s)
}

// Close ends every WatchClock stream (UNAVAILABLE), makes further calls fail
// with UNAVAILABLE and detaches from the engine. Idempotent.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.lifeStop(fmt.Errorf("%w: server shutting down", ErrClosed))
		s.eng.Release()
	})
}

// Done is closed when the service is closed.
func (s *Service) Done() <-chan struct{} { return s.closed }

// Worker returns the served machine.
func (s *Service) Worker() am.Api { return s.worker }

// SchemaHash returns the worker's schema hash (arpc.SchemaHash).
func (s *Service) SchemaHash() string { return s.hash }

// Stats returns the shared engine's counters.
func (s *Service) Stats() engine.Stats { return s.eng.Stats() }

// checkOpen admits a call: the service is open and the worker alive.
func (s *Service) checkOpen() error {
	select {
	case <-s.closed:
		return fmt.Errorf("%w: server shutting down", ErrClosed)
	case <-s.eng.Done():
		return s.eng.Err()
	default:
	}
	return nil
}

// checkAllowed applies AllowId and AllowFn to a client ID or identity.
func (s *Service) checkAllowed(who string) error {
	if (s.opts.AllowId != "" && who != s.opts.AllowId) ||
		(s.opts.AllowFn != nil && !s.opts.AllowFn(who)) {
		return onField("client_id", arpc.ErrNoAccess, "client %q not allowed",
			who)
	}
	return nil
}

func (s *Service) checkHash(hash string) error {
	if hash != "" && hash != s.hash {
		return onField("schema_hash", arpc.ErrSchemaMismatch,
			"client schema %s, worker schema %s: handshake again", hash, s.hash)
	}
	return nil
}

// checkKnown validates a known_time / known_seq pair.
func (s *Service) checkKnown(seq uint64, t []uint64) error {
	if len(t) == 0 {
		return nil
	}
	if seq == 0 {
		return onField("known_seq", arpc.ErrInvalidParams,
			"must not be 0 when known_time is set")
	}
	if len(t) != len(s.names) {
		return onField("known_time", arpc.ErrSchemaMismatch,
			"%d ticks for %d states", len(t), len(s.names))
	}
	return nil
}

// updateSince is the update that brings a client at (seq, t) to now: a diff
// when the engine remembers seq or the client sent its time, else full.
func (s *Service) updateSince(m *engine.Mask, seq uint64,
	t []uint64,
) engine.Update {
	if seq > s.eng.Snapshot().Seq {
		// a sequence this engine never reached (the client knew a restarted
		// server): no diff can continue its chain
		return s.eng.MaskedUpdateFrom(m, nil)
	}
	if len(t) > 0 {
		return s.eng.MaskedUpdateFromTime(m, t, seq)
	}
	if seq == 0 {
		return s.eng.MaskedUpdateFrom(m, nil)
	}
	return s.eng.MaskedUpdateFrom(m, s.eng.SnapshotAt(seq))
}

// Handshake implements BridgeServiceServer.
func (s *Service) Handshake(ctx context.Context, req *bridgev1.HandshakeRequest) (
	*bridgev1.HandshakeResponse, error,
) {
	cl, err := s.admit(ctx, req.ClientId)
	if err != nil {
		return nil, toStatus(err)
	}
	if req.ClientId == "" {
		return nil, toStatus(onField("client_id", arpc.ErrInvalidParams,
			"required"))
	}
	if v := req.ProtocolVersion; v != 0 && v != ProtocolVersion {
		return nil, toStatus(onField("protocol_version", ErrProtocolVersion,
			"client speaks %d, server %d", v, ProtocolVersion))
	}
	for i, n := range req.StateNames {
		if _, ok := s.index[n]; !ok {
			return nil, toStatus(onField(fmt.Sprintf("state_names[%d]", i),
				arpc.ErrSchemaMismatch, "state %q not in worker %s", n,
				s.worker.Id()))
		}
	}
	snap := s.eng.MaskedSnapshot(cl.mask)
	resp := &bridgev1.HandshakeResponse{
		MachineId:       s.worker.Id(),
		StateNames:      s.names,
		Time:            snap.Time,
		Seq:             snap.Seq,
		QueueTick:       snap.QueueTick,
		SchemaHash:      s.hash,
		ProtocolVersion: ProtocolVersion,
		Groups:          toProtoGroups(s.worker.Groups()),
	}
	if req.SchemaHash != s.hash {
		resp.Schema = s.schema
	}
	return resp, nil
}

// Sync implements BridgeServiceServer.
func (s *Service) Sync(ctx context.Context, req *bridgev1.SyncRequest) (
	*bridgev1.SyncResponse, error,
) {
	cl, err := s.admit(ctx, req.ClientId)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.checkKnown(req.KnownSeq, req.KnownTime); err != nil {
		return nil, toStatus(err)
	}
	u := s.updateSince(cl.mask, req.KnownSeq, req.KnownTime)
	return &bridgev1.SyncResponse{Update: toProtoUpdate(&u)}, nil
}

// Get implements BridgeServiceServer.
func (s *Service) Get(ctx context.Context, req *bridgev1.GetRequest) (
	*bridgev1.GetResponse, error,
) {
	cl, err := s.admit(ctx, req.ClientId)
	if err != nil {
		return nil, toStatus(err)
	}
	var v any
	switch {
	case req.Name == ErrName:
		// the error is the Exception state's: hidden with it
		if err := s.worker.Err(); err != nil &&
			s.checkObserve(cl, am.S{am.StateException}) == nil {
			v = err.Error()
		}
		pv, _ := toValue(v)
		return &bridgev1.GetResponse{Value: pv}, nil
	case s.opts.Getter != nil:
		v = s.opts.Getter(req.Name)
	}
	if v == nil {
		return nil, toStatus(onField("name", ErrNotFound, "%q not exposed",
			req.Name))
	}
	pv, err := toValue(v)
	if err != nil {
		return nil, toStatus(fmt.Errorf("getter %q: value %T: %w", req.Name, v,
			err))
	}
	return &bridgev1.GetResponse{Value: pv}, nil
}

// resolve returns the state names of a request and its arpc mutation type
// (ResolveMutation on the worker's mutation path).
func (s *Service) resolve(typ bridgev1.MutationType, names []string,
	idxs []uint32,
) (am.S, uint8, error) {
	return ResolveMutation(s.mut, typ, names, idxs)
}

// ResolveMutation turns a wire mutation (its type, and its states by name or
// by index, never both) into the arpc mutation type and state names that the
// worker's mutation path m takes, checked by m. Errors wrap
// arpc.ErrInvalidParams and name the request field (BadRequest detail on
// gRPC). Every transport of arpc.bridge.v1 messages resolves with it.
func ResolveMutation(m *door.Mutator, typ bridgev1.MutationType,
	names []string, idxs []uint32,
) (am.S, uint8, error) {
	var kind uint8
	switch typ {
	case bridgev1.MutationType_MUTATION_TYPE_ADD:
		kind = door.MutAdd
	case bridgev1.MutationType_MUTATION_TYPE_REMOVE:
		kind = door.MutRemove
	case bridgev1.MutationType_MUTATION_TYPE_SET:
		kind = door.MutSet
	case bridgev1.MutationType_MUTATION_TYPE_TOGGLE:
		kind = door.MutToggle
	default:
		return nil, 0, onField("type", arpc.ErrInvalidParams,
			"mutation type %d", typ)
	}
	if len(names) > 0 && len(idxs) > 0 {
		return nil, 0, onField("states", arpc.ErrInvalidParams,
			"set states or state_indexes, not both")
	}
	field := "states"
	out, err := am.S(names), m.Check(names)
	if len(idxs) > 0 {
		field = "state_indexes"
		ints := make([]int, len(idxs))
		for i, idx := range idxs {
			// out of range stays out of range, without overflowing an int
			ints[i] = int(min(idx, uint32(1<<31-1)))
		}
		out, err = m.Names(ints)
	}
	var se *door.StateError
	if errors.As(err, &se) {
		if se.Index >= 0 {
			// the request's own index, not the clamped one
			se.Index = int(idxs[se.Pos])
		}
		return nil, 0, &fieldError{field: fmt.Sprintf("%s[%d]", field, se.Pos),
			err: se}
	}
	if len(out) == 0 && kind != door.MutSet {
		return nil, 0, onField("states", arpc.ErrInvalidParams,
			"no states (only SET takes an empty list)")
	}
	return out, kind, nil
}

// errArg extracts the reserved AddErrState message from args.
func errArg(typ bridgev1.MutationType, states am.S, args am.A) (
	msg string, isErr bool, err error,
) {
	raw, ok := args[ErrName]
	if !ok {
		return "", false, nil
	}
	msg, isStr := raw.(string)
	switch {
	case !isStr:
		return "", false, onField("args."+ErrName, arpc.ErrInvalidParams,
			"must be a string, got %T", raw)
	case typ != bridgev1.MutationType_MUTATION_TYPE_ADD || len(states) != 1:
		return "", false, onField("args."+ErrName, arpc.ErrInvalidParams,
			"needs type ADD and exactly one state")
	}
	delete(args, ErrName)
	return msg, true, nil
}

// Mutate implements BridgeServiceServer.
func (s *Service) Mutate(ctx context.Context, req *bridgev1.MutateRequest) (
	*bridgev1.MutateResponse, error,
) {
	cl, err := s.admit(ctx, req.ClientId)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.checkHash(req.SchemaHash); err != nil {
		return nil, toStatus(err)
	}
	states, kind, err := s.resolve(req.Type, req.States, req.StateIndexes)
	if err != nil {
		return nil, toStatus(err)
	}
	args := fromStruct(req.Args)
	errMsg, isErr, err := errArg(req.Type, states, args)
	if err != nil {
		return nil, toStatus(err)
	}
	if isErr {
		kind = door.MutAddErr
	}
	res, replayed, err := s.mut.Run(ctx, &door.Mutation{Client: cl.key,
		Id: mutationKey(req.MutationId), Type: kind, States: states, Args: args,
		ErrMsg: errMsg, Policy: s.opts.Policy, Identity: cl.identity,
		ClientId: req.ClientId, Door: "grpc", Log: s.log})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &bridgev1.MutateResponse{Replayed: replayed}
	resp.Result, resp.QueueTick = resultToProto(res)
	if !req.NoSync {
		u := s.replyUpdate(cl, req.KnownSeq)
		resp.Update = toProtoUpdate(&u)
	}
	return resp, nil
}

// replyUpdate is the update of a Mutate reply: from knownSeq to now. When
// the caller's WatchClock stream is at knownSeq too, the reply takes the
// stream's next update, which the stream then does not send: the caller
// applies it from the reply, and its own mutations cost no stream message
// (aRPC does the same with its one chain per connection). A stream that
// moved on meanwhile keeps its update, and the reply is the usual diff.
func (s *Service) replyUpdate(cl caller, knownSeq uint64) engine.Update {
	if knownSeq != 0 && cl.key != "" {
		if sub := s.watching(cl.key, cl.conn, func(sub *engine.Sub) bool {
			return sub.IsPushAllTicks()
		}); sub != nil {
			// one chain for every transition: the reply takes the
			// stream's next update whatever its base (the client holds it
			// until the stream's one before arrives), or names the head
			// the stream already carries
			if u, ok := sub.Next(); ok {
				return u
			}
			return sub.Head()
		}
		if sub := s.watching(cl.key, cl.conn, func(sub *engine.Sub) bool {
			return sub.KnownSeq() == knownSeq
		}); sub != nil {
			u, ok := sub.Next()
			if ok && u.FromSeq == knownSeq {
				return u
			}
			// the stream took an update in between: the diff from knownSeq
			// below covers whatever Next moved the stream past
		}
	}
	return s.updateSince(cl.mask, knownSeq, nil)
}

// CanMutate implements BridgeServiceServer.
func (s *Service) CanMutate(ctx context.Context, req *bridgev1.CanMutateRequest) (
	*bridgev1.CanMutateResponse, error,
) {
	cl, err := s.admit(ctx, req.ClientId)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.checkHash(req.SchemaHash); err != nil {
		return nil, toStatus(err)
	}
	states, kind, err := s.resolve(req.Type, req.States, req.StateIndexes)
	if err == nil {
		err = s.checkObserve(cl, states)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.mut.Can(&door.Mutation{Type: kind, States: states,
		Args: fromStruct(req.Args)})
	if err != nil {
		return nil, toStatus(err)
	}
	out, _ := resultToProto(res)
	return &bridgev1.CanMutateResponse{Result: out}, nil
}

// mutationKey maps a client's mutation ID to the dedup store's key (FNV-1a,
// 64 bits); 0 (no de-duplication) only for an empty ID.
func mutationKey(id string) uint64 {
	if id == "" {
		return 0
	}
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime
	}
	if h == 0 {
		h = 1
	}
	return h
}
