// Command izypop3-store-cloud is the cloud mimestore plugin: messages as
// objects in an S3-compatible bucket (mimestore.dataservice,
// mimestore.tablename, mimestore.accesstoken). izypop3 starts it; see
// docs/cloud.md.
package main

import (
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/sdk"
)

func main() {
	sdk.Serve(cloudstore.New(sdk.NewLogger(cloudstore.Name)), sdk.WithName(cloudstore.Name), sdk.WithVersion(cloudstore.Version))
}
