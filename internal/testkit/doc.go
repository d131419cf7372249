// Package testkit holds the helpers the project's tests share: building
// the project's binaries once per test process (Build, Cleanup), loopback
// ports and listeners, and a goroutine-safe buffer for logs.
//
// It imports only the standard library, so that the tests of core/pop3,
// which depend on nothing else, may use it too. The harness for plugin
// binaries, which needs the plugin host, is its subpackage plugintest;
// reading a Prometheus endpoint is promtest.
package testkit
