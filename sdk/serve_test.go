package sdk

import "testing"

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/lib/izypop3/izypop3-store-memo": "memo",
		"izypop3-store-fake":                  "fake",
		"./mystore":                           "mystore",
		"/x/izypop3-store-":                   "izypop3-store-",
	} {
		if got := defaultName(in); got != want {
			t.Errorf("defaultName(%q) = %q, want %q", in, got, want)
		}
	}
}
