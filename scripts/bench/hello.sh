# Sourced by the HTTP benchmarks: measures axum's hello world (the HTTP ceiling of this
# machine and load generator) at $CONNECTIONS for $SECONDS_RUN and sets HELLO_OUT.
echo "# axum hello world"
./target/release/hello 127.0.0.1:18099 & HELLO=$!
sleep 0.5
HELLO_OUT=$(./target/release/loadgen http://127.0.0.1:18099/ --connections "$CONNECTIONS" --seconds "$SECONDS_RUN")
echo "$HELLO_OUT"
kill $HELLO; wait $HELLO 2>/dev/null || true
