"""Model engines: llama.cpp (GGUF) and ONNX Runtime (embeddings)."""
