// Command izypop3-store-cloud is the cloud mimestore plugin: messages as
// objects in an S3-compatible bucket (mimestore.dataservice,
// mimestore.tablename, mimestore.accesstoken). izypop3 starts it; see
// docs/cloud.md.
package main

import "github.com/izyware/izypop3/plugins/cloud/cloudstore"

func main() { cloudstore.Serve() }
