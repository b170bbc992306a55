module asyncc/bench/peers/go/fanout

go 1.19
