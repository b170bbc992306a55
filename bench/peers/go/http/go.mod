module asyncc/bench/peers/go/http

go 1.19
