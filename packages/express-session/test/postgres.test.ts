import { describeAdapter } from './adapter-suite.js';

describeAdapter('postgres');
