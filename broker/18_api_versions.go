package broker

// ApiVersions (API key 18), versions 0-4.
//
// Advertises exactly the versions implemented here (the versions table
// filled by each handler file). Kafka's quirks are followed: a request with
// a version above ours gets a v0 response with UNSUPPORTED_VERSION and the
// key list (so the client can retry with a version we know), and the
// response header is never flexible.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/protocol"
)

func init() {
	versions[protocol.APIVersionsKey] = versionRange{0, 4, true}
}

func (b *Broker) handleAPIVersions(cs *conn, seq uint64, h *protocol.RequestHeader, body []byte) {
	resp := kmsg.NewPtrApiVersionsResponse()
	v := h.APIVersion
	if v < 0 || v > versions[protocol.APIVersionsKey].max {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		v = 0
	} else {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		if err := req.ReadFrom(body); err != nil {
			resp.ErrorCode = kerr.InvalidRequest.Code
		}
	}
	for key := int16(0); key <= protocol.MaxKey; key++ {
		r := versions[key]
		if !r.ok {
			continue
		}
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MinVersion: r.min, MaxVersion: r.max})
	}
	hv := *h
	hv.APIVersion = v
	b.reply(cs, seq, &hv, resp)
}
