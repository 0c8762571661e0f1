// Command badsig is a plugin whose Burst has the wrong signature.
package main

// Burst takes and returns strings, not the ABI's types.
func Burst(input string) (string, error) { return input, nil }

func main() {}
