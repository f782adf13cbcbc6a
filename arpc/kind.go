package arpc

// Kind tells which side of an aRPC connection a component is.
type Kind string

const (
	// KindClient is the kind of a Client.
	KindClient Kind = "client"
	// KindServer is the kind of a Server.
	KindServer Kind = "server"
)

// GetKind returns KindClient. Safe on a nil *Client.
func (c *Client) GetKind() Kind { return KindClient }

// GetKind returns KindServer. Safe on a nil *Server.
func (s *Server) GetKind() Kind { return KindServer }
