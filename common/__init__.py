"""What several packages need and none owns: errors and exit codes, reading the environment
(with ``*_FILE`` secrets), click helpers, validators and the S3 vocabulary. It imports no other
package of the project."""
