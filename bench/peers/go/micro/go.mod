module asyncc.peers/micro

go 1.19
