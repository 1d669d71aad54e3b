export { S3Driver } from './driver.js';
export { MIN_PART, parseS3Options, type S3Options, s3OptionsSchema } from './options.js';
