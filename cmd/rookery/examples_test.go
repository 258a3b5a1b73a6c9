package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const exampleConfig = "../../examples/node.toml"

// TestExampleConfigCoversEverySetting keeps examples/node.toml in step with
// Config: it must load and validate, and name every setting Config has, so
// a new setting cannot go undocumented.
func TestExampleConfigCoversEverySetting(t *testing.T) {
	cfg := Default()
	if err := cfg.LoadFile(exampleConfig); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	var raw map[string]any
	if _, err := toml.DecodeFile(exampleConfig, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range settingKeys(reflect.TypeFor[Config](), "") {
		if !hasKey(raw, strings.Split(key, ".")) {
			t.Errorf("examples/node.toml lacks the setting %q", key)
		}
	}
}

// settingKeys lists the dotted TOML keys of a config struct's leaves.
func settingKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			keys = append(keys, settingKeys(f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

func hasKey(m map[string]any, path []string) bool {
	v, ok := m[path[0]]
	if !ok || len(path) == 1 {
		return ok
	}
	sub, ok := v.(map[string]any)
	return ok && hasKey(sub, path[1:])
}
