module github.com/quantprep/quantprep/client

go 1.21

require (
	github.com/quantprep/quantprep/api v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.64.0
	google.golang.org/protobuf v1.36.5
)

require (
	golang.org/x/net v0.22.0 // indirect
	golang.org/x/sys v0.18.0 // indirect
	golang.org/x/text v0.14.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20240318140521-94a12d6c2237 // indirect
)

// The API module lives beside this one in the repository; a consumer's own
// replace (or a tagged release) takes the place of this one.
replace github.com/quantprep/quantprep/api => ../api
