module asyncc/bench/peers/go/http_client

go 1.19
