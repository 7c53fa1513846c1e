package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/internal/buildinfo"
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "version [--server TARGET]",
		Short: "Print the version, and with --server the server's",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := r.applyEnv(); err != nil {
				return err
			}
			rev := ""
			if v := buildinfo.Revision(); v != "" && !strings.HasPrefix(v, buildinfo.Version()) {
				rev = " " + v
			}
			fmt.Fprintf(stdout, "quantprep %s%s %s %s/%s\n", buildinfo.Version(), rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if r.server == "" {
				return nil
			}
			conn, err := r.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			timeout := 30 * time.Second
			if r.timeout > 0 {
				timeout = r.timeout
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			info, err := client.ServerInfo(ctx, conn)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "server %s %s (max upload %d bytes)\n", info.GetVersion(), info.GetGoVersion(), info.GetMaxUploadBytes())
			return nil
		},
	}
	r.register(cmd.Flags(), false)
	return cmd
}
