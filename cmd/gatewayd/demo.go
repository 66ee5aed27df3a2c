package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"gatewayd/environ"
	"gatewayd/handler/demo"
)

func newDemoCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the built-in demo app as a CGI program",
		Long: `Run the built-in demo app as a CGI program: it writes a CGI response that
says "Hello world!" and lists its environment, sorted.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			env := environ.Environ{}
			for _, kv := range os.Environ() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			return demo.Write(stdout, env)
		},
	}
}
