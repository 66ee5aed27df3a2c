package config

import "github.com/hashicorp/hcl/v2"

// The shape of the file, as gohcl decodes it. Every attribute is kept as
// an *hcl.Attribute (nil when absent) so that rules.go can read its value
// and report a problem at its position; gohcl reports unknown, missing and
// repeated keys.

type fileSchema struct {
	Listen  []listenSchema `hcl:"listen,block"`
	Admin   *adminSchema   `hcl:"admin,block"`
	Log     *logSchema     `hcl:"log,block"`
	Limits  *limitsSchema  `hcl:"limits,block"`
	Env     *hcl.Attribute `hcl:"env,optional"`
	PassEnv *hcl.Attribute `hcl:"pass_env,optional"`
	// ShutdownTimeout bounds the drain on SIGTERM.
	ShutdownTimeout *hcl.Attribute `hcl:"shutdown_timeout,optional"`
	Mounts          []mountSchema  `hcl:"mount,block"`
}

type listenSchema struct {
	Protocol      string         `hcl:"protocol,label"`
	ProtocolRange hcl.Range      `hcl:"protocol,label_range"`
	DefRange      hcl.Range      `hcl:",def_range"`
	Address       *hcl.Attribute `hcl:"address,optional"` // required by rules.go
}

type adminSchema struct {
	DefRange hcl.Range      `hcl:",def_range"`
	Address  *hcl.Attribute `hcl:"address,optional"` // required by rules.go
}

type logSchema struct {
	Level  *hcl.Attribute `hcl:"level,optional"`
	Format *hcl.Attribute `hcl:"format,optional"`
	Access *hcl.Attribute `hcl:"access,optional"`
}

type limitsSchema struct {
	Timeout       *hcl.Attribute `hcl:"timeout,optional"`
	HeaderTimeout *hcl.Attribute `hcl:"header_timeout,optional"`
	IdleTimeout   *hcl.Attribute `hcl:"idle_timeout,optional"`
	KillGrace     *hcl.Attribute `hcl:"kill_grace,optional"`
	MaxChildren   *hcl.Attribute `hcl:"max_children,optional"`
	MaxQueue      *hcl.Attribute `hcl:"max_queue,optional"`
	QueueTimeout  *hcl.Attribute `hcl:"queue_timeout,optional"`
	MaxBody       *hcl.Attribute `hcl:"max_body,optional"`
}

type mountSchema struct {
	Prefix      string         `hcl:"prefix,label"`
	PrefixRange hcl.Range      `hcl:"prefix,label_range"`
	DefRange    hcl.Range      `hcl:",def_range"`
	Root        *hcl.Attribute `hcl:"root,optional"`
	Program     *hcl.Attribute `hcl:"program,optional"`
	FastCGI     *hcl.Attribute `hcl:"fastcgi,optional"`
	Worker      *workerSchema  `hcl:"worker,block"`
	Env         *hcl.Attribute `hcl:"env,optional"`
	Limits      *limitsSchema  `hcl:"limits,block"`
	// StreamUnknownLength passes a body of unknown length as it comes.
	StreamUnknownLength *hcl.Attribute `hcl:"stream_unknown_length,optional"`
}

type workerSchema struct {
	DefRange    hcl.Range      `hcl:",def_range"`
	Command     *hcl.Attribute `hcl:"command,optional"` // required by rules.go
	Processes   *hcl.Attribute `hcl:"processes,optional"`
	MaxRequests *hcl.Attribute `hcl:"max_requests,optional"`
	MaxRSS      *hcl.Attribute `hcl:"max_rss,optional"`
}
