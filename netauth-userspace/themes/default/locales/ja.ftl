# netauth portal strings: Japanese (日本語).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = 日本語
language = 言語

auth-required-title = ネットワーク認証が必要です
auth-required-text = ネットワークを利用するには、{ $venue } にサインインする必要があります。
sign-in = サインイン
sign-in-required = サインインが必要です
sign-in-to-use = このネットワークを利用するにはサインインしてください

why-quota = データ通信量の上限に達しました。続けるには再度サインインしてください。
why-expired = セッションの時間が終了しました。続けるには再度サインインしてください。
why-idle = デバイスが操作されていなかったため、セッションが終了しました。続けるには再度サインインしてください。
why-operator = ネットワーク管理者によってセッションが終了されました。
why-moved = セッションがデバイスの別のアドレスに移りました（同じバウチャーが新しいアドレスから再度サインインしました）。ここで続けるには再度サインインしてください。

login-title = { $venue } にサインイン
welcome = { $venue } へようこそ
default-terms = 接続することで、このネットワークを法令に従い、他の利用者に配慮して使用することに同意したものとみなされます。管理者はお使いのデバイスのハードウェアアドレスとセッションの時刻を記録することがあり、いつでもセッションを終了できます。
terms-heading = 利用規約
username = ユーザー名
password = パスワード
voucher-code = バウチャーコード
accept-connect = 同意して接続
login-expired = このページの有効期限が切れていました。もう一度お試しください。
login-device-limit = このアカウントは、許可されている台数の端末ですでにサインインしています。
login-invalid-voucher = バウチャーコードが無効です。
login-invalid-credentials = ユーザー名またはパスワードが無効です。

status-title = セッションの状態
online-title = オンラインです
online-text = お使いのデバイス（{ $mac }）は { $venue } にサインインしています。
time-left = 残り時間：
data-left = 残りデータ量：
randomized-note = お使いのデバイスはこのネットワークでプライベート（ランダム）アドレスを使用しています。ネットワークから離れて再接続すると、新しいアドレスが使われ、再度サインインを求められることがあります。
log-out = ログアウト
not-signed-in-title = サインインしていません
not-signed-in-text = お使いのデバイスは { $venue } にサインインしていません。
signed-out-title = サインアウトしました
signed-out-text = お使いのデバイスは { $venue } からサインアウトしました。
sign-in-again = 再度サインイン

error-not-on-lan-title = デバイスを認識できません
error-not-on-lan = このページはゲストネットワークに接続したデバイスからのみ利用できます。接続している場合は、ネットワークに再接続してもう一度お試しください。
error-ambiguous-title = もう一度お試しください
error-ambiguous = このリクエストがどのデバイスから送られたか判別できませんでした。もう一度お試しください。
error-forged-title = ページの有効期限切れ
error-forged = このフォームは有効期限が切れているか、このネットワークのサインインページから送信されていません。戻ってページを再読み込みし、もう一度お試しください。
error-not-accepted-title = 利用規約に同意していません
error-not-accepted = 戻って利用規約に同意すると接続できます。
error-full-title = ネットワークが満杯です
error-full = 現在、これ以上のデバイスを接続できません。しばらくしてからもう一度お試しください。
error-auth-unavailable-title = サインインできません
error-auth-unavailable = サインインサービスが現在応答していません。1分後にもう一度お試しください。
error-internal-title = 問題が発生しました
error-internal = もう一度お試しください。
error-end-not-recorded-title = サインアウトしました
error-end-not-recorded = デバイスはサインアウトしましたが、ネットワークはまだそれを記録できていません。
error-store-title = サインインできません
error-store = 現在、ネットワークはサインインを記録できません。1分後にもう一度お試しください。
error-session-title = 問題が発生しました
error-session = デバイスをサインインできませんでした。もう一度お試しください。
error-grant-refused-title = サインインが拒否されました
error-grant-refused = サインインを確認できませんでした。変更された、有効期限が切れた、すでに使用された、または別のデバイス向けのものです。最初からやり直してください。
error-not-found-title = 見つかりません
error-not-found = このポータルにそのページはありません。
