package natsbus

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/micro"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// ServiceName is the NATS micro service name of publishers.
const ServiceName = "arpc-bridge"

// serve starts the micro service with the machine's endpoints.
func (p *Publisher) serve() error {
	svc, err := micro.AddService(p.nc, micro.Config{Name: ServiceName,
		Version: "1.0.0", Description: "aRPC Bridge mutations of " + p.id,
		Metadata: map[string]string{"machine": p.id}})
	if err != nil {
		return fmt.Errorf("%w: micro service: %w", arpc.ErrNetwork, err)
	}
	eps := []struct {
		name, subj string
		h          micro.HandlerFunc
	}{
		{"mutate", MutateSubject(p.id), p.handleMutate},
		{"can", CanSubject(p.id), p.handleCan},
		{"err", ErrSubject(p.id), p.handleErr},
	}
	for _, ep := range eps {
		if err := svc.AddEndpoint(ep.name, ep.h,
			micro.WithEndpointSubject(ep.subj)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("%w: endpoint %s: %w", arpc.ErrNetwork, ep.subj, err)
		}
	}
	p.svc = svc
	return nil
}

func respondErr(req micro.Request, err error) {
	_ = req.Error(errCode(err), err.Error(), nil)
}

// resolve returns a request's states (by name or index, not both) and its
// arpc mutation type, validated by the worker's mutation path.
func (p *Publisher) resolve(typ bridgev1.MutationType, names []string,
	idxs []uint32, hash string,
) (am.S, uint8, error) {
	if hash != "" && hash != p.hash {
		return nil, 0, fmt.Errorf("%w: schema hash %s, worker has %s",
			arpc.ErrSchemaMismatch, hash, p.hash)
	}
	return bridge.ResolveMutation(p.mut, typ, names, idxs)
}

// handleMutate runs a MutateRequest through the worker's mutation path and
// answers a MutateResponse without an update: the change reaches the
// client through the stream, and HeaderSeq says how far to wait.
func (p *Publisher) handleMutate(req micro.Request) {
	var mr bridgev1.MutateRequest
	if err := proto.Unmarshal(req.Data(), &mr); err != nil {
		respondErr(req, fmt.Errorf("%w: MutateRequest: %w",
			arpc.ErrInvalidParams, err))
		return
	}
	states, kind, err := p.resolve(mr.Type, mr.States, mr.StateIndexes,
		mr.SchemaHash)
	if err != nil {
		respondErr(req, err)
		return
	}
	args := bridge.FromStruct(mr.Args)
	errMsg, isErr, err := bridge.ErrArg(mr.Type, states, args)
	if err != nil {
		respondErr(req, err)
		return
	}
	if isErr {
		kind = door.MutAddErr
	}
	ctx, cancel := context.WithTimeout(p.ctx, arpc.DefaultCallTimeout)
	defer cancel()
	res, replayed, err := p.mut.Run(ctx, &door.Mutation{Client: mr.ClientId,
		Id: bridge.MutationKey(mr.MutationId), Type: kind, States: states,
		Args: args, ErrMsg: errMsg})
	if err != nil {
		respondErr(req, err)
		return
	}
	p.mutations.Add(1)
	resp := &bridgev1.MutateResponse{Replayed: replayed}
	resp.Result, resp.QueueTick = bridge.ResultToProto(res)
	b, err := proto.Marshal(resp)
	if err != nil {
		respondErr(req, err)
		return
	}
	_ = req.Respond(b, micro.WithHeaders(micro.Headers{
		HeaderSeq:   {strconv.FormatUint(p.eng.Snapshot().Seq, 10)},
		HeaderEpoch: {p.epoch},
	}))
}

// handleCan answers a CanMutateRequest.
func (p *Publisher) handleCan(req micro.Request) {
	var cr bridgev1.CanMutateRequest
	if err := proto.Unmarshal(req.Data(), &cr); err != nil {
		respondErr(req, fmt.Errorf("%w: CanMutateRequest: %w",
			arpc.ErrInvalidParams, err))
		return
	}
	states, kind, err := p.resolve(cr.Type, cr.States, cr.StateIndexes,
		cr.SchemaHash)
	if err != nil {
		respondErr(req, err)
		return
	}
	res, err := p.mut.Can(&door.Mutation{Type: kind, States: states,
		Args: bridge.FromStruct(cr.Args)})
	if err != nil {
		respondErr(req, err)
		return
	}
	out, _ := bridge.ResultToProto(res)
	b, _ := proto.Marshal(&bridgev1.CanMutateResponse{Result: out})
	_ = req.Respond(b)
}

// handleErr answers the worker's last error message, empty for none.
func (p *Publisher) handleErr(req micro.Request) {
	var msg string
	if err := p.worker.Err(); err != nil {
		msg = err.Error()
	}
	_ = req.Respond([]byte(msg))
}
