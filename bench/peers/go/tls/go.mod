module asyncc/bench/peers/go/tls

go 1.19
