// Command centrifuge-peer is the Centrifugo-like peer of Herald's load-test comparison: one
// process built on the Centrifuge library (the library Centrifugo is built on) with its Redis
// broker and presence manager. It is a benchmark peer, not a product: every connection is
// accepted as an anonymous user and subscribed server-side to the channel named in its URL.
//
//	ws://127.0.0.1:$PORT/connection/websocket?channel=NAME   Centrifuge JSON protocol; send
//	                                                          {"id":1} (a connect command) first
//	POST http://127.0.0.1:$PORT/pub/NAME                      body published as is (valid JSON)
//	GET  http://127.0.0.1:$PORT/healthz                       200 once the node runs
//
// Environment: PORT (8000), REDIS_URL (redis://127.0.0.1:6379), GOMAXPROCS (1 when unset, so the
// peer uses one core like Nchan's one worker and one Herald node).
package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

// channelKey carries the channel from the upgrade request to OnConnecting.
type channelKey struct{}

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	port := envOr("PORT", "8000")
	redisURL := envOr("REDIS_URL", "redis://127.0.0.1:6379")

	node, err := newNode(redisURL)
	if err != nil {
		log.Fatalf("centrifuge-peer: %v", err)
	}
	server := &http.Server{Handler: routes(node), ReadHeaderTimeout: 10 * time.Second}
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		log.Fatalf("centrifuge-peer: %v", err)
	}
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("centrifuge-peer: %v", err)
		}
	}()
	log.Printf("centrifuge-peer: listening on %s (GOMAXPROCS=%d, broker %s)", listener.Addr(), runtime.GOMAXPROCS(0), redisURL)
	waitForSignal()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(ctx)
	_ = node.Shutdown(ctx)
}

// newNode starts a Centrifuge node whose broker and presence manager are the Redis at redisURL,
// and which subscribes every connection to the channel of its upgrade request.
func newNode(redisURL string) (*centrifuge.Node, error) {
	config := centrifuge.DefaultConfig
	config.LogLevel = centrifuge.LogLevelError
	config.LogHandler = func(entry centrifuge.LogEntry) { log.Printf("centrifuge: %s %v", entry.Message, entry.Fields) }
	node, err := centrifuge.New(config)
	if err != nil {
		return nil, err
	}
	shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: redisURL})
	if err != nil {
		return nil, err
	}
	broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Shards: []*centrifuge.RedisShard{shard}})
	if err != nil {
		return nil, err
	}
	node.SetBroker(broker)
	presence, err := centrifuge.NewRedisPresenceManager(node, centrifuge.RedisPresenceManagerConfig{Shards: []*centrifuge.RedisShard{shard}})
	if err != nil {
		return nil, err
	}
	node.SetPresenceManager(presence)
	node.OnConnecting(func(ctx context.Context, _ centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		channel, _ := ctx.Value(channelKey{}).(string)
		reply := centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: ""}}
		if channel != "" {
			// No history, recovery, presence or join/leave: a plain fan-out subscription, as in
			// Herald's and Nchan's runs.
			reply.Subscriptions = map[string]centrifuge.SubscribeOptions{channel: {}}
		}
		return reply, nil
	})
	return node, node.Run()
}

// routes serves the WebSocket endpoint, the publish endpoint and a health check.
func routes(node *centrifuge.Node) http.Handler {
	mux := http.NewServeMux()
	websocket := centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin: func(*http.Request) bool { return true },
	})
	mux.Handle("/connection/websocket", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), channelKey{}, r.URL.Query().Get("channel"))
		websocket.ServeHTTP(w, r.WithContext(ctx))
	}))
	mux.HandleFunc("/pub/", func(w http.ResponseWriter, r *http.Request) {
		publish(node, w, r)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// publish sends the request body as is to the channel named by the path: 200 once the broker
// took it, 400 without a channel or body, 405 for anything but POST, 500 when Redis failed.
func publish(node *centrifuge.Node, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	channel := strings.TrimPrefix(r.URL.Path, "/pub/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || channel == "" || len(body) == 0 {
		http.Error(w, "need /pub/{channel} and a body", http.StatusBadRequest)
		return
	}
	if _, err := node.Publish(channel, body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// waitForSignal blocks until SIGINT or SIGTERM.
func waitForSignal() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
