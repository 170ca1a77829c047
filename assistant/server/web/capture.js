// AudioWorklet: the microphone at the context's rate -> 16 kHz mono int16, 20 ms per message.
// Each output sample is the mean of the input samples it stands for (a box filter), which
// keeps aliasing down for the usual 48 kHz and 44.1 kHz inputs without a library.
const RATE = 16000;
const FRAME = 320;

class Capture16k extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / RATE; // input samples per output sample
    this.position = 0;
    this.sum = 0;
    this.count = 0;
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.position += 1;
      if (this.position < this.step) continue;
      this.position -= this.step;
      const value = Math.max(-1, Math.min(1, this.sum / this.count));
      this.frame[this.filled++] = Math.round(value * 32767);
      this.sum = 0;
      this.count = 0;
      if (this.filled === FRAME) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(FRAME);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("capture-16k", Capture16k);
