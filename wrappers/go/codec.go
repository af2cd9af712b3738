package tasker

import (
	"bytes"

	"github.com/vmihailenco/msgpack/v5"
)

// encode turns a Go value into a MessagePack document. Structs use their `msgpack` tags, or
// their `json` tags when they have none; integers are packed compactly.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decode reads a MessagePack document into v; untyped values come out as JSON-like Go
// values: map[string]any, []any, string, bool, int64, float64 or nil.
func decode(data []byte, v any) error {
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	dec.SetCustomStructTag("json")
	dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return decodeMap(d) })
	dec.UseLooseInterfaceDecoding(true)
	return dec.Decode(v)
}

// decodeAny decodes a document into a JSON-like Go value.
func decodeAny(data []byte) (any, error) {
	var v any
	if err := decode(data, &v); err != nil {
		return nil, err
	}
	return Normalize(v), nil
}

func decodeMap(d *msgpack.Decoder) (map[string]any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[string]any, n)
	for i := 0; i < n; i++ {
		k, err := d.DecodeString()
		if err != nil {
			return nil, err
		}
		v, err := d.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		m[k] = Normalize(v)
	}
	return m, nil
}

// Normalize converts decoded values to the JSON-like set used throughout this package:
// unsigned integers become int64 when they fit, float32 becomes float64, nested maps and
// arrays are normalized too.
func Normalize(v any) any {
	switch x := v.(type) {
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = Normalize(e)
		}
		return x
	}
	return v
}
