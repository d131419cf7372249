// Package testkit holds the helpers the project's tests share: building
// the project's binaries once per test process (Build, Cleanup), loopback
// ports and listeners, a goroutine-safe buffer for logs, a self-signed TLS
// certificate (NewCert) and the reference POP3 wire form (WireForm).
//
// It imports only the standard library, so that the tests of core/pop3,
// which depend on nothing else, may use it too. The harness for plugin
// binaries, which needs the plugin host, is its subpackage plugintest;
// reading a Prometheus endpoint is promtest.
package testkit
