package dockerlab

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// TestImage is the tag RunServer uses: FROM scratch plus the static test
// server as /server (the entrypoint).
const TestImage = "dockerlab/testserver:latest"

// serverPkg is the import path of the test server.
const serverPkg = "github.com/seawall/seawall/internal/dockerlab/testserver"

// dockerfile builds the test image from a context holding only "server".
const dockerfile = `FROM scratch
COPY server /server
ENTRYPOINT ["/server"]
CMD ["serve"]
`

// serverBinary caches the test server binary for the whole process.
var serverBinary struct {
	once sync.Once
	data []byte
	err  error
}

// ServerBinary returns the test server, built once per process with
// CGO_ENABLED=0 (static, so it runs FROM scratch). It needs the go
// command and the module's source.
func ServerBinary() ([]byte, error) {
	serverBinary.once.Do(func() {
		serverBinary.data, serverBinary.err = buildServer()
	})
	return serverBinary.data, serverBinary.err
}

func buildServer() ([]byte, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("could not build the test server: %w", err)
	}
	tmp, err := os.MkdirTemp("", "dockerlab-server")
	if err != nil {
		return nil, fmt.Errorf("could not build the test server: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "server")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, serverPkg)
	// Build inside the module: this package's source directory when it is
	// known (not under -trimpath), else the working directory (tests run
	// in their package directory).
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if fi, err := os.Stat(filepath.Dir(file)); err == nil && fi.IsDir() {
			cmd.Dir = filepath.Dir(file)
		}
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("could not build the test server (%s): %v: %s", serverPkg, err, trimOutput(b))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("could not build the test server: %w", err)
	}
	return data, nil
}

// buildContext returns a tar archive holding the Dockerfile and server.
func buildContext(server []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"server", 0o755, server},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BuildImage builds the test image (FROM scratch plus the test server,
// see ServerBinary) in this daemon and tags it tag (TestImage if empty),
// with docker build and a context streamed on stdin: no registry is
// involved. The binary is built once per process; the image once per tag
// and daemon.
func (d *Docker) BuildImage(tag string) error {
	if tag == "" {
		tag = TestImage
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.images[tag] {
		return nil
	}
	server, err := ServerBinary()
	if err != nil {
		return err
	}
	tarball, err := buildContext(server)
	if err != nil {
		return fmt.Errorf("could not build image %s: %w", tag, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := d.cli(ctx, tarball, "build", "--quiet", "--tag", tag, "-"); err != nil {
		return err
	}
	d.images[tag] = true
	return nil
}

// ensureImage builds tag (the test image) unless this daemon has it.
func (d *Docker) ensureImage(tag string) error {
	return d.BuildImage(tag)
}
