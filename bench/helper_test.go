package bench_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	rpprof "runtime/pprof"
	"syscall"
	"testing"

	"github.com/weirhq/weir/broker"
)

// TestBrokerHelperProcess is not a test: run by a KindWeirHelper target
// (with WEIRBENCH_HELPER=1), it serves a Weir broker in-process, as `weir
// serve` would with its defaults, plus /memstats (runtime.MemStats as JSON)
// /profile/start and /profile/stop, and /debug/pprof on WEIRBENCH_DEBUG,
// until SIGTERM or stdin closes.
func TestBrokerHelperProcess(t *testing.T) {
	if os.Getenv("WEIRBENCH_HELPER") != "1" {
		t.Skip("helper process for bench.KindWeirHelper targets")
	}
	cfg := broker.Config{
		DataDir: os.Getenv("WEIRBENCH_DATA"),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	cfg.Net.Transport = os.Getenv("WEIRBENCH_TRANSPORT")
	ln, err := net.Listen("tcp", os.Getenv("WEIRBENCH_LISTEN"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln)

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	// /profile/start?file=PATH starts a CPU profile into PATH,
	// /profile/stop ends it: profiles cover exactly the measured phase.
	var prof *os.File
	mux.HandleFunc("/profile/start", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			if err = rpprof.StartCPUProfile(f); err != nil {
				f.Close()
			} else {
				prof = f
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/profile/stop", func(w http.ResponseWriter, _ *http.Request) {
		if prof == nil {
			http.Error(w, "no profile running", http.StatusConflict)
			return
		}
		rpprof.StopCPUProfile()
		if err := prof.Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		prof = nil
	})
	mux.HandleFunc("/memstats", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(m)
	})
	dln, err := net.Listen("tcp", os.Getenv("WEIRBENCH_DEBUG"))
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(dln, mux)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { io.Copy(io.Discard, os.Stdin); stop <- syscall.SIGTERM }()
	<-stop
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
