"""What tests, benchmarks and load tests share: real speech, audio helpers, and real
processes (the server, workers, redis-server) started on free loopback ports."""
